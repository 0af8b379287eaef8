#!/usr/bin/env python3
"""Seeds the catalog benchmark straight into MongoDB, in the documents' stored shapes.

    catalog_seed.py products MONGO_URI DB_NAME COUNT OUT_DIR
    catalog_seed.py orders   MONGO_URI DB_NAME COUNT OUT_DIR
    catalog_seed.py token    USER_ID ROLE       an access token signed with $JWT_SECRET

`products` tops the `products` collection up to COUNT products (common/catalog/src/lib.rs,
`ProductDoc`); `orders` tops `orders` up to COUNT orders, plus a few FAILED tombstones
(order-service/src/store/orders.rs). Product i (order i) is always the same document, whatever
sizes were seeded before, so a run that seeds 1000 then 100000 ends with the same data as one
that seeds 100000 at once. Both print `key=value` lines for the benchmark (query values already
URL-encoded, and the X-Total-Count each query must answer); `products` also writes 1000 random
existing ids to OUT_DIR/product_ids.txt. Progress goes to stderr.

Tokens are minted here (HS256 with hmac, as common/api/src/auth.rs issues them), so the benchmark
needs no user service. Needs pymongo (scripts/mongodb.sh installs it; put "$CACHE/py" on PYTHONPATH).
"""

import base64
import hashlib
import hmac
import json
import math
import os
import random
import struct
import sys
import time
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor

from bson import Int64, ObjectId
from bson.datetime_ms import DatetimeMS
from pymongo import MongoClient
from pymongo.write_concern import WriteConcern

SEED = 20261123
CHUNK = 1000  # documents made from one random generator: document i is in chunk i // CHUNK
BATCH = 10_000  # documents per insert_many
MS = 1000

# Search terms: "steel" is in 10% of names, "bamboo" in 1% (as materials, see MATERIAL_SLOTS).
# No other word of the vocabulary contains either; the seeder counts the exact fractions.
TERM_10 = "steel"
TERM_1 = "bamboo"

BRANDS = (
    "Acme NordLine Zenith Hearthstone BlueRidge Kestrel Lumora Vantix Solace Brightwell "
    "Oakhurst Pinnacle Riverton Sableworks Tidewater Umbra Verdant Wexford Yarrow Quill "
    "AXIS KORVO OMNI TRAXX VOLT ELARA NOVA iGlow eZee myHome uBuild hiFive GoodGrip "
    "ProForm TerraNova CityLite Moxie Fable Junco Halden Corvid Parlour Maple&Co Driftwood "
    "Northpeak Southbay Eastfield Westgate Harbor Lakeside Summit Ironbark Copperleaf Silverline"
).split()
ADJECTIVES = (
    "Classic Compact Premium Ergonomic Heavy-Duty Vintage Smart Wireless Foldable Waterproof "
    "Portable Deluxe Mini Pro Ultra-Light Rechargeable Adjustable Insulated Non-Slip Modern "
    "Rustic Minimalist Stackable Reusable Cordless Organic Handmade Slim Rugged Quiet"
).split()
MATERIALS = (  # neither term appears here: they are added with their own probabilities
    "Cotton|Leather|Wooden|Oak|Walnut|Ceramic|Glass|Aluminium|Copper|Brass|Silicone|Linen|Wool|"
    "Plastic|Carbon Fiber|Titanium|Cast Iron|Marble|Cork|Rattan|Velvet|Denim|Nylon|Canvas"
).split("|")
STEELS = ("Stainless Steel", "Steel", "Carbon Steel", "Brushed Steel")
NOUNS = (
    "Water Bottle|Chef Knife|Desk Lamp|Backpack|Headphones|Coffee Mug|Frying Pan|Cutting Board|"
    "Office Chair|Bookshelf|Yoga Mat|Running Shoes|Rain Jacket|Wall Clock|Table Lamp|Cookware Set|"
    "Phone Case|Laptop Stand|Keyboard|Mouse Pad|Bluetooth Speaker|Smart Watch|Fitness Tracker|"
    "Camping Tent|Sleeping Bag|Garden Hose|Tool Box|Screwdriver Set|Drill|Hammer|Measuring Tape|"
    "Dog Leash|Cat Tree|Bird Feeder|Plant Pot|Picture Frame|Throw Pillow|Bath Towel|Shower Head|"
    "Toothbrush|Hair Dryer|Sunglasses|Wallet|Belt|Watch Strap|Notebook|Fountain Pen|Desk Organizer|"
    "Board Game|Puzzle|Building Blocks|Teddy Bear|Kite|Skateboard|Bicycle Helmet|Tennis Racket|"
    "Football|Dumbbell|Kettlebell|Jump Rope|Thermos|Lunch Box|Salad Bowl|Spice Rack|Teapot|"
    "Wine Glass|Serving Tray|Candle Holder|Vase|Mirror|Rug|Curtain|Blanket|Duvet Cover|Pillowcase"
).split("|")
SIZES = ("S", "M", "L", "XL", "XXL", "500 ml", "750 ml", "1 L", "2 L", "12 in", "15 in",
         "2-Pack", "3-Pack", "Set of 4", "Set of 6", "Large", "Small", "King", "Queen", "Twin")
CODE_LETTERS = "BCDFGHJKMNPQRTVWXZ"  # consonants only: a code never spells a search term
CATEGORIES = (  # (spelling most products use, a rarer spelling of the same category)
    ("Electronics", "electronics"), ("Home & Kitchen", "home & kitchen"),
    ("Clothing", "CLOTHING"), ("Sports & Outdoors", "Sports & outdoors"),
    ("Books", "books"), ("Toys & Games", "Toys & games"), ("Beauty", "BEAUTY"),
    ("Health & Household", "health & household"), ("Garden", "garden"),
    ("Tools & Home Improvement", "Tools & home improvement"), ("Automotive", "AUTOMOTIVE"),
    ("Pet Supplies", "pet supplies"), ("Office Products", "office products"),
    ("Baby", "BABY"), ("Grocery", "grocery"), ("Jewelry", "JEWELRY"), ("Shoes", "shoes"),
    ("Music", "MUSIC"), ("Movies & TV", "movies & tv"), ("Video Games", "video games"),
    ("Arts & Crafts", "arts & crafts"), ("Luggage", "LUGGAGE"), ("Industrial", "industrial"),
    ("Software", "SOFTWARE"), ("Handmade", "handmade"),
)
BENCH_CATEGORY = 6  # "Beauty": ~4% of products under the skew below
SELLERS = 2000
BENCH_SELLER = 10  # the 11th largest seller: ~1% of products
PRICE_MAX = 5000.0
PRICE_RANGE = (100.0, 200.0)  # log-uniform prices: ln(2) / ln(5000) = ~8% of products
SENTENCES = (
    "Built to last and easy to clean.", "Ships in recyclable packaging.",
    "Backed by a two-year warranty.", "A favourite of our customers.",
    "Designed in-house and tested for everyday use.", "Lightweight, sturdy and good-looking.",
    "Comes fully assembled.", "Dishwasher safe.", "Machine washable at 30 degrees.",
    "Fits most standard sizes.", "Includes a carrying pouch.", "Available while stocks last.",
)

PRODUCTS_FROM_MS = 1_735_689_600_000  # 2025-01-01: product i was created 20 s after product i-1
PRODUCT_STEP_MS = 20_000
ORDERS_FROM_MS = 1_767_225_600_000  # 2026-01-01: order i was placed 50 s after order i-1
ORDER_STEP_MS = 50_000
SELLER_MARK = 0x5E11E7 << 40
PRODUCT_MARK = 0xB0D << 40
USER_MARK = 0xB1E7 << 40
ORDER_MARK = 0x0DE7 << 40
BUYERS = 20_000
BUYER_SHARE = 30  # the benchmark's buyer places one order in 30: 10 000 of 300 000
STATUSES = (("DELIVERED", 50), ("SHIPPED", 25), ("PLACED", 15), ("CANCELLED", 10))
TOMBSTONE_EVERY = 500  # one FAILED tombstone per 500 orders


def log(message):
    print(f"catalog_seed: {message}", file=sys.stderr, flush=True)


def object_id(millis, mark, index):
    """A deterministic ObjectId whose timestamp is `millis` (so _id order is creation order)."""
    return ObjectId(struct.pack(">IQ", millis // MS, mark | index))


def cumulative(weights):
    total, out = 0.0, []
    for weight in weights:
        total += weight
        out.append(total)
    return out


SELLER_IDS = [object_id(PRODUCTS_FROM_MS - 86_400_000, SELLER_MARK, k) for k in range(SELLERS)]
SELLER_WEIGHTS = cumulative(1 / (k + 1) for k in range(SELLERS))  # Zipf: a few large sellers
CATEGORY_WEIGHTS = cumulative(1 / (k + 1) ** 0.8 for k in range(len(CATEGORIES)))
LOG_PRICE_MAX = math.log(PRICE_MAX)


# Materials of one chunk's products, shuffled: every 1000 products have exactly 100 names with
# "steel" and 10 with "bamboo", so the two searches match 10% and 1% of the names at every size.
MATERIAL_SLOTS = ["steel"] * 100 + ["bamboo"] * 10 + ["other"] * 590 + [""] * 300
assert len(MATERIAL_SLOTS) == CHUNK


def product_name(rng, material):
    """Brand, adjective, material, noun, size and model code, each but the noun optional."""
    parts = []
    if rng.random() < 0.9:
        parts.append(rng.choice(BRANDS))
    if rng.random() < 0.6:
        parts.append(rng.choice(ADJECTIVES))
    if material == "steel":
        parts.append(rng.choice(STEELS))
    elif material == "bamboo":
        parts.append("Bamboo")
    elif material:
        parts.append(rng.choice(MATERIALS))
    parts.append(rng.choice(NOUNS))
    if rng.random() < 0.4:
        parts.append(rng.choice(SIZES))
    if rng.random() < 0.5:
        letters = "".join(rng.choices(CODE_LETTERS, k=rng.randint(1, 2)))
        parts.append(f"{letters}-{rng.randint(10, 9999)}")
    name = " ".join(parts)
    style = rng.random()
    if style < 0.08:
        return name.lower()
    if style < 0.12:
        return name.upper()
    return name


def product_chunk(chunk):
    """Products chunk*CHUNK … chunk*CHUNK+CHUNK-1, as documents ready to insert."""
    rng = random.Random(f"{SEED}:products:{chunk}")
    sellers = rng.choices(SELLER_IDS, cum_weights=SELLER_WEIGHTS, k=CHUNK)
    categories = rng.choices(CATEGORIES, cum_weights=CATEGORY_WEIGHTS, k=CHUNK)
    materials = rng.sample(MATERIAL_SLOTS, CHUNK)
    docs = []
    for j in range(CHUNK):
        index = chunk * CHUNK + j
        created = PRODUCTS_FROM_MS + index * PRODUCT_STEP_MS
        name = product_name(rng, materials[j])
        usual, rare = categories[j]
        category = rare if rng.random() < 0.1 else usual
        stock = 0 if rng.random() < 0.1 else rng.randint(1, 500)
        # Prices are stored as integer cents (USD), as the services store them.
        price = Int64(max(100, round(math.exp(rng.random() * LOG_PRICE_MAX) * 100)))
        docs.append({
            "_id": object_id(created, PRODUCT_MARK, index),
            "name": name,
            "description": f"{name}. {rng.choice(SENTENCES)} {rng.choice(SENTENCES)}",
            "price": price,
            "category": category,
            "category_key": category.strip().lower(),
            "stock": Int64(stock),
            "seller_id": sellers[j],
            "created_at": DatetimeMS(created),
            "updated_at": DatetimeMS(created + (index % 7) * 3_600_000),
        })
    return docs


def order_chunk(chunk, products, buyer):
    """Orders chunk*CHUNK … chunk*CHUNK+CHUNK-1, with a FAILED tombstone now and then."""
    rng = random.Random(f"{SEED}:orders:{chunk}")
    statuses = rng.choices([s for s, _ in STATUSES], weights=[w for _, w in STATUSES], k=CHUNK)
    docs = []
    for j in range(CHUNK):
        index = chunk * CHUNK + j
        created = ORDERS_FROM_MS + index * ORDER_STEP_MS
        if index % TOMBSTONE_EVERY == TOMBSTONE_EVERY - 1:
            # What the recovery pass leaves for an order id that never completed (insert_tombstone).
            docs.append({
                "_id": object_id(created, ORDER_MARK, index),
                "status": "FAILED",
                "items": [],
                "created_at": DatetimeMS(created),
                "updated_at": DatetimeMS(created),
                "expires_at": DatetimeMS(int(time.time() * MS) + 7 * 86_400_000),
            })
            continue
        user = buyer if rng.randrange(BUYER_SHARE) == 0 else object_id(
            PRODUCTS_FROM_MS, USER_MARK, 1 + rng.randrange(BUYERS))
        lines = rng.sample(products, rng.choice((1, 1, 1, 2, 2, 3, 4)))
        lines.sort(key=lambda p: p["_id"].binary)  # one line per product, in product-id order
        items, total = [], 0
        for product in lines:
            quantity = rng.choice((1, 1, 1, 1, 2, 2, 3, 5))
            items.append({"product_id": product["_id"], "quantity": Int64(quantity),
                          "name": product["name"], "unit_price": product["price"]})
            total += product["price"] * quantity
        status = statuses[j]
        docs.append({
            "_id": object_id(created, ORDER_MARK, index),
            "user_id": user,
            "items": items,
            "status": status,
            "total": Int64(total),
            "created_at": DatetimeMS(created),
            "updated_at": DatetimeMS(created + (0 if status == "PLACED" else rng.randint(1, 240) * 3_600_000)),
        })
    return docs


def insert_up_to(collection, target, make_chunk, label):
    """Inserts the documents numbered from what the collection holds up to `target`."""
    have = collection.count_documents({})
    if have >= target:
        log(f"{label}: {have} already there")
        return
    started = time.monotonic()
    fast = collection.with_options(write_concern=WriteConcern(w=1, j=False))
    pending = []
    batch = []
    # Two inserts in flight while this thread builds the next batch: the driver waits for
    # mongod without the GIL, so building and storing overlap on a 2-core machine.
    with ThreadPoolExecutor(max_workers=2) as pool:
        for chunk in range(have // CHUNK, (target + CHUNK - 1) // CHUNK):
            first = chunk * CHUNK
            docs = make_chunk(chunk)
            batch.extend(docs[max(0, have - first):max(0, target - first)])
            if len(batch) >= BATCH:
                pending.append(pool.submit(fast.insert_many, batch, ordered=False))
                batch = []
                while len(pending) >= 2:
                    pending.pop(0).result()
        if batch:
            pending.append(pool.submit(fast.insert_many, batch, ordered=False))
        for future in pending:
            future.result()
    seconds = time.monotonic() - started
    added = target - have
    log(f"{label}: added {added} in {seconds:.1f} s ({added / seconds:,.0f}/s), now {target}")


def seed_products(db, count, out_dir):
    products = db.products
    insert_up_to(products, count, product_chunk, "products")
    usual, _ = CATEGORIES[BENCH_CATEGORY]
    category_key = usual.lower()
    seller = SELLER_IDS[BENCH_SELLER]
    low, high = PRICE_RANGE
    # One pass over the collection counts what each benchmarked query must report.
    counted = next(products.aggregate([{"$group": {
        "_id": None,
        "all": {"$sum": 1},
        "q1": {"$sum": {"$cond": [{"$regexMatch": {"input": "$name", "regex": TERM_1, "options": "i"}}, 1, 0]}},
        "q10": {"$sum": {"$cond": [{"$regexMatch": {"input": "$name", "regex": TERM_10, "options": "i"}}, 1, 0]}},
        "category": {"$sum": {"$cond": [{"$eq": ["$category_key", category_key]}, 1, 0]}},
        "seller": {"$sum": {"$cond": [{"$eq": ["$seller_id", seller]}, 1, 0]}},
        "price": {"$sum": {"$cond": [{"$and": [{"$gte": ["$price", round(low * 100)]},
                                               {"$lte": ["$price", round(high * 100)]}]}, 1, 0]}},
        "categories": {"$addToSet": "$category_key"},
    }}]))
    sample = [doc["_id"] for doc in products.aggregate([{"$sample": {"size": 1000}}, {"$project": {"_id": 1}}])]
    with open(f"{out_dir}/product_ids.txt", "w") as ids:
        ids.writelines(f"{oid}\n" for oid in sample)
    total = counted["all"]
    log(f"products: {total}; '{TERM_1}' in {counted['q1'] / total:.2%} of names, "
        f"'{TERM_10}' in {counted['q10'] / total:.2%}, category {usual!r} {counted['category'] / total:.2%}, "
        f"seller #{BENCH_SELLER + 1} {counted['seller'] / total:.2%}, price {low:g}–{high:g} {counted['price'] / total:.2%}")
    quote = urllib.parse.quote
    emit(
        products=total,
        q1=quote(TERM_1), q1_total=counted["q1"],
        q10=quote(TERM_10), q10_total=counted["q10"],
        category=quote(category_key), category_total=counted["category"],
        seller=str(seller), seller_total=counted["seller"],
        min_price=f"{low:g}", max_price=f"{high:g}", price_total=counted["price"],
        categories_total=len(counted["categories"]),
    )


def seed_orders(db, count):
    products = list(db.products.find({}, {"name": 1, "price": 1}).sort("_id", 1).limit(5000))
    if len(products) < 4:
        sys.exit("catalog_seed: seed products before orders")
    buyer = object_id(PRODUCTS_FROM_MS, USER_MARK, 0)
    # Orders are numbered with their tombstones: `count` visible orders need a few more numbers.
    numbers = count + count // (TOMBSTONE_EVERY - 1)
    while numbers - numbers // TOMBSTONE_EVERY < count:
        numbers += 1
    insert_up_to(db.orders, numbers, lambda chunk: order_chunk(chunk, products, buyer), "orders")
    visible = {"status": {"$ne": "FAILED"}}
    emit(
        orders=db.orders.count_documents(visible),
        shipped_total=db.orders.count_documents({"status": "SHIPPED"}),
        buyer=str(buyer),
        buyer_total=db.orders.count_documents({"user_id": buyer, **visible}),
        tombstones=db.orders.count_documents({"status": "FAILED"}),
    )


def access_token(secret, user_id, role, lifetime_s=6 * 3600):
    """An HS256 JWT with the claims common/api/src/auth.rs issues and verifies."""
    def b64(value):
        raw = json.dumps(value, separators=(",", ":")).encode() if isinstance(value, dict) else value
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    now = int(time.time())
    claims = {"sub": user_id, "role": role, "typ": "access", "iat": now, "exp": now + lifetime_s,
              "jti": uuid.uuid4().hex}
    signed = f"{b64({'alg': 'HS256', 'typ': 'JWT'})}.{b64(claims)}"
    return f"{signed}.{b64(hmac.new(secret.encode(), signed.encode(), hashlib.sha256).digest())}"


def emit(**values):
    for key, value in values.items():
        print(f"{key}={value}")


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "token":
        print(access_token(os.environ["JWT_SECRET"], sys.argv[2], sys.argv[3]))
        return
    if len(sys.argv) != 6 or sys.argv[1] not in ("products", "orders"):
        sys.exit(__doc__)
    what, uri, db_name, count, out_dir = sys.argv[1:]
    db = MongoClient(uri)[db_name]
    if what == "products":
        seed_products(db, int(count), out_dir)
    else:
        seed_orders(db, int(count))


if __name__ == "__main__":
    main()
