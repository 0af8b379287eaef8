#!/usr/bin/env python3
"""After a benchmark: every unit that left stock is in a placed order, and nothing more.

Orders cut off when wrk stopped still finish on the server (the service completes an order
whatever its client does), so the check allows them a few seconds to land.

    python3 check.py PRODUCT_URL ORDER_URL TOKEN OUT_DIR
"""

import json
import pathlib
import sys
import time
import urllib.request


def get(url, token=None):
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read()), response.headers


def main():
    products, orders, token, out = sys.argv[1], sys.argv[2], sys.argv[3], pathlib.Path(sys.argv[4])
    ids = set((out / "hot.txt").read_text().split()) | set((out / "many.txt").read_text().split())
    for _ in range(10):
        taken = sum(1_000_000_000 - get(f"{products}/products/{pid}")[0]["stock"] for pid in ids)
        _, headers = get(f"{orders}/orders?limit=1", token)
        placed = int(headers["X-Total-Count"])
        if taken == placed:
            break
        time.sleep(0.5)
    print(f"CHECK units taken from stock={taken} units in placed orders={placed}")
    if taken != placed:
        sys.exit("stock and orders disagree")


if __name__ == "__main__":
    main()
