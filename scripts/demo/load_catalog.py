#!/usr/bin/env python3
"""Loads the demo catalog (products.json) through the public API, owned by a demo seller.

    python3 scripts/demo/load_catalog.py [USER_SERVICE_URL] [PRODUCT_SERVICE_URL]

Safe to run again: only the demo seller's products that are missing (by name) are created. The
demo seller (demo-seller@example.com / demo-seller-password) exists for local demos only.
Standard library only.
"""

import json
import pathlib
import sys
import urllib.error
import urllib.request

SELLER_EMAIL = "demo-seller@example.com"
SELLER_PASSWORD = "demo-seller-password"


def call(method, url, body=None, token=None):
    """Sends a JSON request; returns (status, parsed body or None)."""
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            payload = response.read()
            return response.status, json.loads(payload) if payload else None
    except urllib.error.HTTPError as error:
        payload = error.read()
        return error.code, json.loads(payload) if payload else None


def main():
    users = sys.argv[1] if len(sys.argv) > 1 else "http://localhost:8001"
    products_url = sys.argv[2] if len(sys.argv) > 2 else "http://localhost:8002"

    status, body = call(
        "POST",
        f"{users}/users/register",
        {"email": SELLER_EMAIL, "password": SELLER_PASSWORD, "name": "Demo Seller", "role": "seller"},
    )
    if status not in (200, 409):
        sys.exit(f"could not register the demo seller: {status} {body}")
    status, tokens = call(
        "POST", f"{users}/users/login", {"email": SELLER_EMAIL, "password": SELLER_PASSWORD}
    )
    if status != 200:
        sys.exit(f"could not sign in as the demo seller: {status} {tokens}")
    token = tokens["access_token"]
    _, me = call("GET", f"{users}/users/me", token=token)

    present = set()
    offset = 0
    while True:
        status, page = call("GET", f"{products_url}/products?limit=1000&offset={offset}")
        if status != 200:
            sys.exit(f"could not list products: {status} {page}")
        present.update(p["name"] for p in page if p["seller_id"] == me["id"])
        if len(page) < 1000:
            break
        offset += 1000

    catalog = json.loads((pathlib.Path(__file__).parent / "products.json").read_text())
    created = 0
    for product in catalog:
        if product["name"] in present:
            continue
        status, body = call("POST", f"{products_url}/products", product, token=token)
        if status != 201:
            sys.exit(f"could not create {product['name']!r}: {status} {body}")
        created += 1
    if created:
        print(f"Demo catalog: created {created} products as {SELLER_EMAIL} / {SELLER_PASSWORD}")
    else:
        print(f"Demo catalog already loaded ({SELLER_EMAIL} / {SELLER_PASSWORD})")


if __name__ == "__main__":
    main()
