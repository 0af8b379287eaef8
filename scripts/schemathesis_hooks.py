"""schemathesis hooks for scripts/schemathesis.sh: five rules the OpenAPI documents state in words,
because JSON Schema can neither relate one value to another, nor count bytes, nor remember an
earlier request.

- GET /products: `min_price` must not be above `max_price` (422 otherwise).
- POST /products and PATCH /products/{id}: a price has at most the currency's decimals (2: the
  suite runs in USD; 422 otherwise), which JSON Schema's `multipleOf` cannot state reliably for
  binary floats.
- POST /orders: lines naming the same product are combined, and their combined quantity must not
  exceed 10 000 (422 otherwise), while each line alone may ask for up to 10 000.
- POST /users/register, POST /users/password-reset/confirm, POST /users/me/password and
  DELETE /users/me: a password has 8 to 72 bytes of UTF-8 (bcrypt reads no further; a current
  password at most 72), which the document can only approximate in characters; the two agree on
  ASCII.
- POST /orders and POST /orders/{id}/reorder: an `Idempotency-Key` used once may be used again only
  for the same request (422 `IDEMPOTENCY_KEY_REUSED` otherwise).

A request that schemathesis generates as valid (positive) but that breaks one of these rules would
be refused with a 422 the document describes, and be reported as a valid request rejected. So such
positive cases are repaired before they are sent: the two prices are swapped, a price is rounded
to cents, a line past its
product's limit is shortened or left out, a password over 72 bytes loses characters at its end, and
a key this run already sent with another request gets a suffix that makes it new (a repeat of the
same request keeps its key, so replays are still tested).
Negative cases are sent as generated, except a password made too short in characters that is still
8 bytes long (`é` takes 2), which is shortened until it is too short in bytes as well.
"""

import json
from collections.abc import MutableMapping

import schemathesis

MAX_QUANTITY = 10_000
CURRENCY_DECIMALS = 2
MIN_PASSWORD_BYTES = 8
MAX_PASSWORD_BYTES = 72


def _is_positive(case):
    return case.meta is None or case.meta.generation.mode.is_positive


@schemathesis.hook("map_case").apply_to(method="GET", path="/products")
def prices_in_order(context, case):
    query = case.query
    if not _is_positive(case) or not isinstance(query, MutableMapping):
        return case
    try:
        low, high = float(query["min_price"]), float(query["max_price"])
    except (KeyError, TypeError, ValueError):
        return case
    if low > high:
        query["min_price"], query["max_price"] = query["max_price"], query["min_price"]
    return case


def _price_in_cents(case):
    body = case.body
    if not _is_positive(case) or not isinstance(body, MutableMapping):
        return case
    price = body.get("price")
    if isinstance(price, (int, float)) and not isinstance(price, bool):
        body["price"] = round(price, CURRENCY_DECIMALS)
    return case


@schemathesis.hook("map_case").apply_to(method="POST", path="/products")
def new_price_in_cents(context, case):
    return _price_in_cents(case)


@schemathesis.hook("map_case").apply_to(method="PATCH", path="/products/{id}")
def changed_price_in_cents(context, case):
    return _price_in_cents(case)


@schemathesis.hook("map_case").apply_to(method="POST", path="/orders")
def lines_within_the_product_limit(context, case):
    body = case.body
    if not _is_positive(case) or not isinstance(body, MutableMapping) or not isinstance(body.get("items"), list):
        return case
    taken = {}
    kept = []
    for line in body["items"]:
        product, quantity = line.get("product_id"), line.get("quantity")
        if not isinstance(product, str) or not isinstance(quantity, (int, float)):
            kept.append(line)
            continue
        # Ids are hex: upper and lower case name the same product.
        room = MAX_QUANTITY - taken.get(product.lower(), 0)
        if room <= 0:
            continue
        if quantity > room:
            line["quantity"] = room
        taken[product.lower()] = taken.get(product.lower(), 0) + line["quantity"]
        kept.append(line)
    body["items"] = kept
    return case


def _utf8_len(text):
    return len(text.encode("utf-8", "surrogatepass"))


def _passwords_in_bytes(case, fields):
    body = case.body
    if not isinstance(body, MutableMapping):
        return case
    for field in fields:
        password = body.get(field)
        if not isinstance(password, str):
            continue
        if _is_positive(case):
            while _utf8_len(password) > MAX_PASSWORD_BYTES:
                password = password[:-1]
        elif len(password) < MIN_PASSWORD_BYTES:
            while password and _utf8_len(password) >= MIN_PASSWORD_BYTES:
                password = password[:-1]
        body[field] = password
    return case


@schemathesis.hook("map_case").apply_to(method="POST", path="/users/register")
def password_measured_in_bytes(context, case):
    return _passwords_in_bytes(case, ["password"])


@schemathesis.hook("map_case").apply_to(method="POST", path="/users/password-reset/confirm")
def new_password_measured_in_bytes(context, case):
    return _passwords_in_bytes(case, ["new_password"])


@schemathesis.hook("map_case").apply_to(method="POST", path="/users/me/password")
def passwords_measured_in_bytes(context, case):
    return _passwords_in_bytes(case, ["current_password", "new_password"])


@schemathesis.hook("map_case").apply_to(method="DELETE", path="/users/me")
def closing_password_measured_in_bytes(context, case):
    return _passwords_in_bytes(case, ["password"])


# Idempotency-Key -> the request it was first sent with, in this run (one process, one caller).
_requests_by_key = {}


def _with_fresh_key(case, request):
    headers = case.headers
    key = next((name for name in headers if name.lower() == "idempotency-key"), None)
    value = headers.get(key) if key else None
    if not isinstance(value, str):
        return case
    first = _requests_by_key.setdefault(value, request)
    if first == request or not _is_positive(case):
        return case
    base, number = value, len(_requests_by_key)
    while _requests_by_key.get(value, request) != request:
        number += 1
        suffix = f"-{number}"
        value = base[: 255 - len(suffix)] + suffix
    _requests_by_key[value] = request
    headers[key] = value
    return case


# Registered after the hooks above, so the request is taken as it will be sent.
@schemathesis.hook("map_case").apply_to(method="POST", path="/orders")
def new_key_for_a_new_order(context, case):
    if not isinstance(case.headers, MutableMapping):
        return case
    return _with_fresh_key(case, ("orders", json.dumps(case.body, sort_keys=True, default=str)))


@schemathesis.hook("map_case").apply_to(method="POST", path="/orders/{id}/reorder")
def new_key_for_a_new_reorder(context, case):
    if not isinstance(case.headers, MutableMapping):
        return case
    return _with_fresh_key(case, ("reorder", json.dumps(case.path_parameters, sort_keys=True, default=str)))
