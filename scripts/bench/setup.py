#!/usr/bin/env python3
"""Prepares a benchmark: a seller, a buyer, one hot product and 1000 others, all with stock to
spare. Prints the buyer's access token; writes product ids to hot.txt and many.txt in OUT_DIR.

    python3 setup.py USER_URL PRODUCT_URL OUT_DIR
"""

import json
import pathlib
import sys
import urllib.request


def call(method, url, body=None, token=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    with urllib.request.urlopen(request, timeout=30) as response:
        payload = response.read()
        return json.loads(payload) if payload else None


def account(users, email, role):
    call("POST", f"{users}/users/register", {"email": email, "password": "benchmark-password", "role": role})
    return call("POST", f"{users}/users/login", {"email": email, "password": "benchmark-password"})["access_token"]


def main():
    users, products, out = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3])
    seller = account(users, "bench-seller@example.com", "seller")
    buyer = account(users, "bench-buyer@example.com", "buyer")
    create = lambda name: call(
        "POST", f"{products}/products", {"name": name, "price": 9.99, "stock": 1_000_000_000}, seller
    )["id"]
    (out / "hot.txt").write_text(create("Hot product") + "\n")
    (out / "many.txt").write_text("".join(create(f"Product {i}") + "\n" for i in range(1000)))
    print(buyer)


if __name__ == "__main__":
    main()
