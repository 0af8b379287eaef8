#!/usr/bin/env python3
"""Seeds COUNT checkouts straight into MongoDB, as the order service stores them, all past their
payment deadline: one unit each of a product picked in turn from a file of ids, whose stock is
lowered by what they hold, so that the stock invariant holds before the expiry pass starts.

    python3 pending_seed.py MONGO_URI DB_NAME PRODUCT_IDS_FILE COUNT
"""

import datetime
import sys

import pymongo
from bson import Int64, ObjectId


def main():
    uri, db_name, ids_file, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    db = pymongo.MongoClient(uri)[db_name]
    products = [ObjectId(line) for line in open(ids_file).read().split()]
    now = datetime.datetime.now(tz=datetime.timezone.utc)
    due = now - datetime.timedelta(seconds=1)
    buyer = ObjectId()
    held = {}
    batch = []
    for index in range(count):
        product = products[index % len(products)]
        held[product] = held.get(product, 0) + 1
        batch.append({
            "_id": ObjectId(), "user_id": buyer, "status": "PENDING_PAYMENT",
            "items": [{"product_id": product, "quantity": Int64(1), "name": "Seeded", "unit_price": Int64(999)}],
            "total": Int64(999), "created_at": now, "updated_at": now, "pay_by": due,
        })
        if len(batch) == 10_000:
            db.orders.insert_many(batch, ordered=False)
            batch = []
    if batch:
        db.orders.insert_many(batch, ordered=False)
    for product, units in held.items():
        db.products.update_one({"_id": product}, {"$inc": {"stock": -units}})
    print(f"seeded {count} pending orders due since {due.isoformat()}", file=sys.stderr)


if __name__ == "__main__":
    main()
