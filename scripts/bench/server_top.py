#!/usr/bin/env python3
"""MongoDB's server time per collection and operation since the last call.

    server_top.py MONGO_URI DB_NAME STATE_FILE

The first call (no STATE_FILE yet) records the `top` command's totals in STATE_FILE; each later
call prints the operations of DB_NAME that took more than 0.1 s of server time since the call
before (the 15 largest), the change streams open on the server, and records the totals again.
"""

import json
import os
import sys

import pymongo


def main():
    uri, db_name, state = sys.argv[1:4]
    client = pymongo.MongoClient(uri)
    totals = client.admin.command("top")["totals"]
    now = {
        ns: {op: figures["time"] for op, figures in ops.items() if op != "total" and isinstance(figures, dict)}
        for ns, ops in totals.items()
        if ns.startswith(db_name + ".")
    }
    if os.path.exists(state):
        with open(state, encoding="utf-8") as file:
            earlier = json.load(file)
        rows = []
        for ns, ops in now.items():
            for op, micros in ops.items():
                spent = micros - earlier.get(ns, {}).get(op, 0)
                if spent > 100_000:
                    rows.append((spent, ns.split(".", 1)[1], op))
        for spent, collection, op in sorted(rows, reverse=True)[:15]:
            print(f"TOP {collection:16s} {op:10s} {spent / 1e6:7.2f} s")
        streams = client.admin.aggregate([
            {"$currentOp": {"idleCursors": True, "allUsers": True}},
            {"$match": {"cursor.originatingCommand.pipeline.0.$changeStream": {"$exists": True}}},
        ])
        print("STREAMS", sorted(op.get("ns", "?").split(".", 1)[-1] for op in streams))
    with open(state, "w", encoding="utf-8") as file:
        json.dump(now, file)


if __name__ == "__main__":
    main()
