#!/usr/bin/env python3
"""Walks the API through the nginx gateway, only through its /api/... routes (scripts/gateway-test.sh
starts everything and runs this; Python 3 standard library only).

  gateway_walk.py walk --base URL --admin-email E --admin-password P --db-name D --logs DIR
      the storefront page at / with every file and module it loads (GET and HEAD only); a seller
      and a buyer, a product, a search, categories, an order placed, read, listed and
      cancelled with its stock back; a checkout paid by a signed provider event; a webhook
      subscription whose receiver (a server of this script's own on 127.0.0.1) gets an order's
      order.placed event with a valid Standard Webhooks signature, the event in /api/events and
      its delivery DELIVERED; request ids end to end (into the services' logs); the
      services' own errors passed through untouched; the gateway's 404 and 413; per-client rate
      limits keyed by the address nginx appends to X-Forwarded-For; each service's Swagger UI,
      every asset its page references, and its OpenAPI document, whose every path is routed.
  gateway_walk.py down --base URL --service orders
      with that service stopped: 502 in the API's error shape, the other services unaffected.
  gateway_walk.py stalled --base URL --service products
      with that service frozen (SIGSTOP): 504 in the API's error shape after the read timeout,
      for a GET and for a POST (which nginx never sends twice).
  gateway_walk.py healthy --base URL
      every service answers its /health through the gateway.

Prints one line per check and exits 1 if any failed.
"""

import argparse
import datetime
import gzip
import html.parser
import http.client
import http.server
import json
import os
import re
import secrets
import sys
import threading
import time
import urllib.parse
from pathlib import Path

PASSWORD = "correct horse battery"
SERVICES = {"users": "user-service", "products": "product-service", "orders": "order-service"}
failures = []


class StepFailed(Exception):
    """A check failed: the rest of its section depends on it."""


def check(condition, name, detail=""):
    if condition:
        print(f"  ok    {name}")
        return True
    print(f"  FAIL  {name}{': ' + detail if detail else ''}")
    failures.append(name)
    return False


def require(condition, name, detail=""):
    if not check(condition, name, detail):
        raise StepFailed(name)


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name):
        return self.headers.get(name.lower())

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def __str__(self):
        return f"{self.status} {self.body[:300]!r}"


class Gateway:
    def __init__(self, base):
        url = urllib.parse.urlsplit(base)
        self.host = url.hostname
        self.port = url.port or 80

    def call(self, method, path, body=None, token=None, headers=None, source="127.0.0.1", raw=None):
        """One request on a fresh connection from `source` (a loopback address: the gateway sees
        a different client per address)."""
        sent = dict(headers or {})
        payload = raw
        if body is not None:
            payload = json.dumps(body).encode()
            sent.setdefault("Content-Type", "application/json")
        if token:
            sent["Authorization"] = f"Bearer {token}"
        conn = http.client.HTTPConnection(self.host, self.port, timeout=20, source_address=(source, 0))
        try:
            conn.request(method, path, body=payload, headers=sent)
            response = conn.getresponse()
            got = {}
            for name, value in response.getheaders():
                name = name.lower()
                got[name] = f"{got[name]}, {value}" if name in got else value
            body = response.read()
            if got.get("content-encoding") == "gzip":
                body = gzip.decompress(body)
            return Response(response.status, got, body)
        finally:
            conn.close()


def is_error_shape(response, status, code=None):
    body = response.json()
    return (
        response.status == status
        and (response.header("content-type") or "").startswith("application/json")
        and isinstance(body, dict)
        and isinstance(body.get("detail"), (str, list))
        and isinstance(body.get("error_code"), str)
        and (code is None or body["error_code"] == code)
    )


def logged(logs, service, *needles):
    """Whether one line of that service's log holds every needle."""
    text = (Path(logs) / f"{service}.log").read_text(errors="replace")
    return any(all(needle in line for needle in needles) for line in text.splitlines())


def section(title, run, *args):
    print(title)
    try:
        return run(*args)
    except StepFailed:
        print("  (rest of this section skipped)")
    except (OSError, http.client.HTTPException) as err:
        check(False, f"{title}: connection", repr(err))
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as err:
        check(False, f"{title}: unexpected answer", repr(err))
    return None


def walk_shop(gw, opts):
    tag = secrets.token_hex(4)
    seller_email = f"seller-{tag}@example.com"
    buyer_email = f"buyer-{tag}@example.com"
    r = gw.call("POST", "/api/users/register",
                {"email": seller_email, "password": PASSWORD, "name": "Vera", "role": "seller"})
    require(r.status == 200 and r.json()["role"] == "seller", "register a seller (200)", str(r))
    r = gw.call("POST", "/api/users/register", {"email": buyer_email, "password": PASSWORD, "name": "Bo"})
    require(r.status == 200 and r.json()["role"] == "buyer", "register a buyer (200)", str(r))
    buyer_id = r.json()["id"]

    def login(email, password=PASSWORD):
        r = gw.call("POST", "/api/users/login", {"email": email, "password": password})
        require(r.status == 200 and r.json().get("token_type") == "bearer", f"log in as {email.split('-')[0].split('@')[0]}", str(r))
        return r.json()

    seller = login(seller_email)["access_token"]
    buyer_tokens = login(buyer_email)
    buyer = buyer_tokens["access_token"]
    r = gw.call("POST", "/api/users/refresh", {"refresh_token": buyer_tokens["refresh_token"]})
    check(r.status == 200 and "access_token" in (r.json() or {}), "refresh the buyer's tokens", str(r))
    r = gw.call("GET", "/api/users/me", token=buyer)
    require(r.status == 200 and r.json()["id"] == buyer_id, "GET /api/users/me", str(r))
    r = gw.call("GET", f"/api/users/{buyer_id}", token=buyer)
    check(r.status == 200 and r.json()["email"] == buyer_email, "GET /api/users/{id}", str(r))

    admin = login(opts.admin_email, opts.admin_password)["access_token"]
    r = gw.call("GET", "/api/users?limit=1", token=admin)
    require(r.status == 200 and len(r.json()) == 1 and int(r.header("x-total-count") or 0) >= 3,
            "admin lists users through /api/users (exact path, query kept)", str(r))
    link = r.header("link") or ""
    nxt = re.search(r'<([^>]*)>;\s*rel="next"', link)
    require(nxt and nxt.group(1).startswith("/api/users?"),
            "the paging Link points through the gateway", repr(link))
    r = gw.call("GET", nxt.group(1), token=admin)
    check(r.status == 200 and len(r.json()) == 1 and 'rel="prev"' in (r.header("link") or ""),
          "following the next link gives the second page", str(r))

    category = f"Gateway Lamps {tag}"
    name = f"Reading lamp {tag}"
    r = gw.call("POST", "/api/products", {"name": name, "price": 24.5, "category": category, "stock": 5}, token=seller)
    require(r.status == 201, "the seller creates a product (201)", str(r))
    product = r.json()["id"]
    r = gw.call("GET", f"/api/products?q={urllib.parse.quote(tag)}&limit=10")
    require(r.status == 200 and [p["id"] for p in r.json()] == [product] and r.header("x-total-count") == "1",
            "search finds it (?q=, X-Total-Count)", str(r))
    r = gw.call("GET", f"/api/products?category={urllib.parse.quote(category.lower())}&in_stock=true&sort=-price")
    check(r.status == 200 and [p["id"] for p in r.json()] == [product], "list by category", str(r))
    r = gw.call("GET", f"/api/products/{product}")
    require(r.status == 200 and r.json()["stock"] == 5, "GET /api/products/{id}", str(r))
    r = gw.call("GET", "/api/categories")
    check(r.status == 200 and any(c["name"] == category and c["product_count"] == 1 for c in r.json()),
          "GET /api/categories lists the new category", str(r))

    key = secrets.token_hex(8)
    order_body = {"items": [{"product_id": product, "quantity": 2}]}
    r = gw.call("POST", "/api/orders", order_body, token=buyer, headers={"Idempotency-Key": key})
    require(r.status == 201 and r.json()["status"] == "PLACED" and r.json()["total"] == 49.0,
            "the buyer places an order (201, total 49.0)", str(r))
    order = r.json()["id"]
    r = gw.call("POST", "/api/orders", order_body, token=buyer, headers={"Idempotency-Key": key})
    check(r.status == 201 and r.json()["id"] == order and r.header("idempotent-replayed") == "true",
          "a replay with the same Idempotency-Key returns the same order", str(r))
    r = gw.call("GET", f"/api/products/{product}")
    check(r.status == 200 and r.json()["stock"] == 3, "stock went down to 3", str(r))
    r = gw.call("GET", f"/api/orders/{order}", token=buyer)
    require(r.status == 200 and r.json()["items"][0]["name"] == name, "GET /api/orders/{id}", str(r))
    r = gw.call("GET", "/api/orders?limit=10", token=buyer)
    check(r.status == 200 and [o["id"] for o in r.json()] == [order] and r.header("x-total-count") == "1",
          "GET /api/orders lists it", str(r))
    r = gw.call("GET", f"/api/orders/{order}", token=seller)
    check(is_error_shape(r, 404, "ORDER_NOT_FOUND"), "someone else's order is the service's own 404", str(r))
    r = gw.call("POST", f"/api/orders/{order}/cancel", token=buyer)
    require(r.status == 200 and r.json()["status"] == "CANCELLED", "cancel it", str(r))
    r = gw.call("GET", f"/api/products/{product}")
    check(r.status == 200 and r.json()["stock"] == 5, "the stock came back to 5", str(r))
    walk_checkout(gw, buyer, product)

    r = gw.call("PUT", f"/api/products/{product}/image", raw=b"\0" * (4 * 1024 * 1024),
                token=seller, headers={"Content-Type": "image/png"})
    check(is_error_shape(r, 413, "PAYLOAD_TOO_LARGE"), "a 4 MiB upload is the gateway's 413 in the error shape", str(r))
    rid = "gw-image-" + secrets.token_hex(4)
    r = gw.call("PUT", f"/api/products/{product}/image", raw=b"\x89PNG\r\n\x1a\n" + b"\0" * (2 * 1024 * 1024 - 8),
                token=seller, headers={"Content-Type": "image/png", "X-Request-Id": rid})
    check(r.json() is not None and logged(opts.logs, "product-service", rid, "/image"),
          f"a 2 MiB upload passes the gateway to the product service ({r.status})", str(r))
    r = gw.call("POST", "/api/products", raw=b'{"name": "' + b"x" * (100 * 1024) + b'"}',
                token=seller, headers={"Content-Type": "application/json"})
    check(is_error_shape(r, 413), "a 100 KiB JSON body reaches the service, whose 413 passes through", str(r))
    return admin, buyer, product


def walk_checkout(gw, buyer, product):
    """A checkout holds the stock; the provider's event, signed by the Standard Webhooks reference
    implementation (not the service's own code), places it through /api/payments."""
    from standardwebhooks.webhooks import Webhook

    r = gw.call("POST", "/api/orders", {"items": [{"product_id": product, "quantity": 1}], "checkout": True},
                token=buyer)
    require(r.status == 201 and r.json()["status"] == "PENDING_PAYMENT" and r.json()["currency"] == "USD"
            and r.json().get("expires_at"), "a checkout holds the stock (201 PENDING_PAYMENT, expires_at)", str(r))
    order, total = r.json()["id"], r.json()["total"]
    event = json.dumps({"type": "payment.succeeded", "data": {
        "order_id": order, "amount": round(total * 100), "currency": "USD", "payment_id": "pay_gateway"}})
    msg_id = "msg_" + secrets.token_hex(8)
    at = datetime.datetime.now(tz=datetime.timezone.utc)
    signature = Webhook(os.environ["PAYMENT_WEBHOOK_SECRET"]).sign(msg_id, at, event)
    headers = {"Content-Type": "application/json", "webhook-id": msg_id,
               "webhook-timestamp": str(int(at.timestamp())), "webhook-signature": signature}
    r = gw.call("POST", "/api/payments/webhook", raw=event.encode(), headers=headers)
    check(r.status == 200 and r.json()["outcome"] == "paid" and r.json()["order"]["status"] == "PLACED",
          "the provider's signed payment.succeeded places it through /api/payments/webhook", str(r))
    r = gw.call("POST", "/api/payments/webhook", raw=event.encode(), headers=headers)
    check(r.status == 200 and r.json()["outcome"] == "replayed", "a replay of the event changes nothing", str(r))
    headers["webhook-signature"] = "v1,AAAA"
    r = gw.call("POST", "/api/payments/webhook", raw=event.encode(), headers=headers)
    check(is_error_shape(r, 401, "INVALID_SIGNATURE"), "a forged signature is 401", str(r))


class Receiver:
    """A webhook receiver on 127.0.0.1 (a free port), in a background thread: records each POST's
    headers (lowercase names) and body, and answers 204."""

    def __init__(self):
        self.received = []
        self.arrived = threading.Condition()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    body = b""
                    while size := int(self.rfile.readline().split(b";")[0], 16):
                        body += self.rfile.read(size)
                        self.rfile.readline()
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                else:
                    body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {name.lower(): value for name, value in self.headers.items()}
                with receiver.arrived:
                    receiver.received.append((self.path, headers, body))
                    receiver.arrived.notify_all()
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, matches, timeout):
        """The first POST (path, headers, body) for which `matches` holds, or None after `timeout` s."""
        deadline = time.monotonic() + timeout
        with self.arrived:
            while True:
                for post in self.received:
                    if matches(post):
                        return post
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.arrived.wait(left)


def walk_webhooks(gw, admin_token, buyer_token, product):
    """An admin subscribes a receiver of this script's own to order.placed through /api/webhooks;
    the order the buyer places arrives there signed, verified by the Standard Webhooks reference
    implementation (not the service's own code); the event is in /api/events and its delivery
    DELIVERED."""
    from standardwebhooks.webhooks import Webhook

    with Receiver() as receiver:
        subscription = {"url": f"http://127.0.0.1:{receiver.port}/hook", "events": ["order.placed"]}
        r = gw.call("POST", "/api/webhooks", subscription, token=buyer_token)
        check(is_error_shape(r, 403), "a buyer cannot subscribe (403)", str(r))
        r = gw.call("POST", "/api/webhooks", subscription, token=admin_token)
        require(r.status == 201 and str(r.json().get("secret", "")).startswith("whsec_")
                and r.json()["url"] == subscription["url"] and r.json()["events"] == ["order.placed"],
                "an admin subscribes a receiver on 127.0.0.1 to order.placed (201, a whsec_ secret)", str(r))
        webhook, secret = r.json()["id"], r.json()["secret"]
        r = gw.call("GET", f"/api/webhooks/{webhook}", token=admin_token)
        check(r.status == 200 and r.json()["id"] == webhook and "secret" not in r.json(),
              "GET /api/webhooks/{id} shows it without its secret", str(r))

        r = gw.call("POST", "/api/orders", {"items": [{"product_id": product, "quantity": 1}]}, token=buyer_token)
        require(r.status == 201 and r.json()["status"] == "PLACED", "the buyer places an order (201)", str(r))
        order = r.json()["id"]

        def for_order(post):
            try:
                return json.loads(post[2])["data"]["id"] == order
            except (ValueError, KeyError, TypeError):
                return False

        post = receiver.wait_for(for_order, timeout=10)
        require(post is not None, "the receiver gets the order's event within 10 s",
                f"{len(receiver.received)} other POST(s)")
        path, headers, body = post
        check(path == "/hook", "… at the subscribed URL", path)
        try:
            Webhook(secret).verify(body, headers)
            verified = None
        except Exception as err:  # the package raises WebhookVerificationError, or a decode error
            verified = err
        require(verified is None, "… signed: the reference implementation verifies it with the secret",
                f"{verified!r}; headers {headers}")
        event = json.loads(body)
        check(headers.get("webhook-id") == event["id"], "… webhook-id is the event's id",
              f"{headers.get('webhook-id')!r} vs {event['id']!r}")
        check(event["type"] == "order.placed" and event["data"]["id"] == order and event.get("occurred_at"),
              "… an order.placed event whose data is the order", body[:300].decode(errors="replace"))

        r = gw.call("GET", "/api/events?types=order.placed&limit=1000", token=admin_token)
        check(r.status == 200 and event["id"] in [e["id"] for e in r.json()]
              and all(e["type"] == "order.placed" for e in r.json()),
              "GET /api/events?types=order.placed lists that event (query passed through)", str(r))
        r = gw.call("GET", "/api/events", token=buyer_token)
        check(is_error_shape(r, 403), "a buyer cannot read /api/events (403)", str(r))

        # The service records the delivery once the receiver has answered: a moment after it.
        deadline = time.monotonic() + 5
        while True:
            r = gw.call("GET", f"/api/webhooks/{webhook}/deliveries", token=admin_token)
            mine = [d for d in (r.json() or []) if d.get("event_id") == event["id"]] if r.status == 200 else []
            if mine and mine[0]["status"] == "DELIVERED" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        check(len(mine) == 1 and mine[0]["status"] == "DELIVERED" and mine[0]["event_type"] == "order.placed"
              and mine[0]["attempts"] and mine[0]["attempts"][-1].get("http_status") == 204,
              "GET /api/webhooks/{id}/deliveries shows it DELIVERED (204)", str(r))

        r = gw.call("DELETE", f"/api/webhooks/{webhook}", token=admin_token)
        check(r.status == 204, "DELETE /api/webhooks/{id} (204)", str(r))
        r = gw.call("GET", f"/api/webhooks/{webhook}", token=admin_token)
        check(is_error_shape(r, 404), "… and it is gone (404)", str(r))


def walk_errors(gw, opts):
    r = gw.call("GET", "/api/orders/not-an-id", token=None)
    check(is_error_shape(r, 401, "UNAUTHORIZED") and r.header("www-authenticate") == "Bearer",
          "the services' 401 passes through with WWW-Authenticate", str(r))
    r = gw.call("GET", "/api/products/not-an-id")
    check(is_error_shape(r, 400, "INVALID_ID"), "the services' 400 INVALID_ID passes through", str(r))
    r = gw.call("GET", f"/api/products/{secrets.token_hex(12)}")
    check(is_error_shape(r, 404, "PRODUCT_NOT_FOUND"), "the services' 404 PRODUCT_NOT_FOUND passes through", str(r))
    r = gw.call("POST", "/api/users/login", raw=b"{", headers={"Content-Type": "application/json"}, source="127.0.0.5")
    check(is_error_shape(r, 400), "malformed JSON is the service's 400", str(r))
    for path in ["/nope", "/api", "/api/", "/api/nope", "/api/usersx", "/users/me", "/docs", "/openapi.json"]:
        r = gw.call("GET", path)
        check(is_error_shape(r, 404, "NOT_FOUND") and r.header("x-request-id"),
              f"unknown path {path} is 404 in the error shape", str(r))
    r = gw.call("GET", "/health")
    check(r.status == 200 and r.json() == {"status": "ok"}
          and r.header("content-type").startswith("application/json"), "the gateway's own /health", str(r))
    for prefix in SERVICES:
        r = gw.call("GET", f"/api/{prefix}/health")
        check(r.status == 200 and r.json() == {"status": "ok"}, f"/api/{prefix}/health", str(r))
        r = gw.call("GET", f"/api/{prefix}/health/db")
        check(r.status == 200 and r.json().get("db") == opts.db_name, f"/api/{prefix}/health/db", str(r))
    r = gw.call("GET", "/api/inventory?below=10", headers={"X-Request-Id": "gw-inventory-" + secrets.token_hex(4)})
    rid = r.header("x-request-id")
    check(r.status in (200, 401, 403, 404) and r.json() is not None
          and logged(opts.logs, "product-service", rid, "/inventory"),
          "/api/inventory reaches the product service's /inventory", str(r))


def walk_request_ids(gw, opts):
    rid = "gw-walk-" + secrets.token_hex(6)
    r = gw.call("GET", "/api/products?limit=1", headers={"X-Request-Id": rid})
    check(r.header("x-request-id") == rid, "a client's X-Request-Id comes back", repr(r.header("x-request-id")))
    check(logged(opts.logs, "product-service", rid), "… and is on the service's log lines")
    r = gw.call("GET", "/api/users/me")
    generated = r.header("x-request-id") or ""
    check(re.fullmatch(r"[0-9a-f]{32}", generated) is not None,
          "without one, nginx's $request_id comes back", repr(generated))
    check(logged(opts.logs, "user-service", generated), "… and is on the service's log lines")
    check("," not in generated, "exactly one X-Request-Id on a proxied answer", repr(generated))
    r = gw.call("GET", "/nope", headers={"X-Request-Id": rid})
    check(r.header("x-request-id") == rid, "the gateway's own errors carry the request id")
    r = gw.call("GET", "/api/products?limit=1", headers={"X-Request-Id": "has spaces in it"})
    check(re.fullmatch(r"[0-9a-f]{32}", r.header("x-request-id") or "") is not None,
          "a request id that is not visible ASCII is replaced", repr(r.header("x-request-id")))


def walk_rate_limits(gw, opts):
    """Every client comes through nginx: the user service must key its limits by the address
    nginx appends to X-Forwarded-For, not by the gateway's own address nor by what a client
    writes in that header."""

    def attempt(source, spoof=None):
        headers = {"X-Forwarded-For": spoof} if spoof else {}
        body = {"email": f"nobody-{secrets.token_hex(4)}@example.com", "password": "wrong password"}
        return gw.call("POST", "/api/users/login", body, headers=headers, source=source)

    limited = None
    for _ in range(40):
        r = attempt("127.0.0.2", spoof=f"10.0.0.{secrets.randbelow(250) + 1}")
        if r.status != 401:
            limited = r
            break
    require(limited is not None and is_error_shape(limited, 429, "RATE_LIMITED") and limited.header("retry-after"),
            "one client is rate limited even when it rewrites X-Forwarded-For", str(limited))
    r = attempt("127.0.0.3")
    check(r.status == 401, "another client address is not limited", str(r))
    r = attempt("127.0.0.3", spoof="127.0.0.2")
    check(r.status == 401, "… even when it claims to be the limited one", str(r))


class AssetRefs(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("src", "href") and value and not value.startswith(("#", "data:")):
                self.refs.append(value)


def walk_docs(gw, prefix):
    base = f"/api/{prefix}"
    r = gw.call("GET", f"{base}/docs")
    require(r.status in (301, 302, 303, 307, 308) and r.header("location") == f"{base}/docs/",
            f"{base}/docs redirects to {base}/docs/", f"{r.status} location={r.header('location')!r}")
    r = gw.call("GET", f"{base}/docs/")
    require(r.status == 200 and "text/html" in (r.header("content-type") or "") and b"swagger-ui" in r.body,
            f"{base}/docs/ is the Swagger UI page", str(r))
    parser = AssetRefs()
    parser.feed(r.body.decode())
    require(parser.refs, "the page references assets")
    bad = []
    for ref in parser.refs:
        path = urllib.parse.urljoin(f"{base}/docs/", ref)
        if urllib.parse.urlsplit(path).netloc:
            bad.append(f"{ref} (not served by the gateway)")
            continue
        asset = gw.call("GET", path, headers={"Accept-Encoding": "gzip"})
        if asset.status != 200 or not asset.body:
            bad.append(f"{path} {asset.status}")
    check(not bad, f"every asset of the page loads ({len(parser.refs)}: {', '.join(parser.refs)})", "; ".join(bad))
    r = gw.call("GET", f"{base}/docs/swagger-initializer.js", headers={"Accept-Encoding": "gzip, br"})
    text = r.body.decode(errors="replace")
    check(r.status == 200 and f'"{base}/openapi.json"' in text and '"/openapi.json"' not in text,
          f"the UI loads its document from {base}/openapi.json", text[:300])
    r = gw.call("GET", f"{base}/openapi.json", headers={"Accept-Encoding": "gzip"})
    doc = r.json()
    require(r.status == 200 and isinstance(doc, dict) and str(doc.get("openapi", "")).startswith("3."),
            f"{base}/openapi.json is an OpenAPI 3 document", str(r))
    check(doc.get("servers") == [{"url": "/api", "description": "the gateway"}],
          "its server is the gateway's /api", repr(doc.get("servers")))
    # Every path the document names must reach its service: a GET answers from the route (or 405
    # from a route without GET), never the gateway's "No such route".
    unrouted = []
    for path in doc.get("paths", {}):
        concrete = re.sub(r"\{[^}]*\}", "0123456789abcdef01234567", path)
        r = gw.call("GET", "/api" + concrete)
        body = r.json() or {}
        if r.status == 404 and body.get("error_code") == "NOT_FOUND" or r.status in (502, 504):
            unrouted.append(f"{path} {r.status}")
    check(not unrouted and doc.get("paths"),
          f"each of its {len(doc.get('paths', {}))} paths is routed under /api", "; ".join(unrouted))


def walk_storefront(gw):
    """The storefront (web/) at the gateway's root: the page, every file it references, the
    modules those import, and nothing but GET and HEAD."""
    r = gw.call("GET", "/")
    require(r.status == 200 and (r.header("content-type") or "").startswith("text/html")
            and b'<script type="module" src="app.js">' in r.body,
            "/ serves the storefront page (index.html, its entry module app.js)", str(r))
    check("no-cache" in (r.header("cache-control") or "") and r.header("etag") and r.header("x-request-id"),
          "… revalidated on every load (Cache-Control: no-cache, ETag), with a request id",
          f"cache-control={r.header('cache-control')!r} etag={r.header('etag')!r}")
    again = gw.call("GET", "/", headers={"If-None-Match": r.header("etag") or ""})
    check(again.status == 304, "… and 304 when unchanged", str(again))
    parser = AssetRefs()
    parser.feed(r.body.decode())
    pending, seen, bad = list(parser.refs), set(), []
    while pending:
        path = urllib.parse.urljoin("/", pending.pop())
        if path in seen:
            continue
        seen.add(path)
        asset = gw.call("GET", path, headers={"Accept-Encoding": "gzip"})
        kind = asset.header("content-type") or ""
        if asset.status != 200 or not asset.body:
            bad.append(f"{path} {asset.status}")
        elif path.endswith(".js"):
            if not kind.startswith("text/javascript"):
                bad.append(f"{path} is {kind!r}, not JavaScript (a module needs that)")
            pending += re.findall(r"""^import\b[^'"]*['"](\./[^'"]+)['"]""", asset.body.decode(), re.M)
    check(not bad and "/app.js" in seen and "/api.js" in seen and "/config.js" in seen,
          f"every file the page references and every module they import loads ({', '.join(sorted(seen))})",
          "; ".join(bad))
    r = gw.call("HEAD", "/app.js")
    check(r.status == 200, "HEAD /app.js", str(r))
    r = gw.call("POST", "/", {"x": 1})
    check(is_error_shape(r, 405, "METHOD_NOT_ALLOWED"), "POST / is 405 in the error shape", str(r))
    for path in ["/missing.js", "/api/app.js", "/api/index.html"]:
        r = gw.call("GET", path)
        check(is_error_shape(r, 404, "NOT_FOUND"), f"{path} is 404 in the error shape", str(r))


def walk(opts):
    gw = Gateway(opts.base)
    section("The storefront at /", walk_storefront, gw)
    shop = section("The shop, end to end through /api", walk_shop, gw, opts)
    if shop:
        section("Webhooks through /api", walk_webhooks, gw, *shop)
    else:
        print("Webhooks through /api\n  (skipped: the shop did not finish)")
    section("Errors", walk_errors, gw, opts)
    section("Request ids", walk_request_ids, gw, opts)
    section("Rate limits behind the gateway", walk_rate_limits, gw, opts)
    for prefix in SERVICES:
        section(f"Docs of the {SERVICES[prefix]}", walk_docs, gw, prefix)


def down(opts):
    gw = Gateway(opts.base)
    base = f"/api/{opts.service}"

    def run():
        rid = "gw-down-" + secrets.token_hex(4)
        for method, path, body in [("GET", base, None), ("POST", base, {"items": []}),
                                   ("GET", f"{base}/docs/", None), ("GET", f"{base}/health", None)]:
            r = gw.call(method, path, body, headers={"X-Request-Id": rid})
            check(is_error_shape(r, 502, "BAD_GATEWAY") and r.header("x-request-id") == rid
                  and r.header("retry-after") == "1",
                  f"{method} {path} is 502 in the error shape, with the request id", str(r))
        for prefix in SERVICES:
            if prefix != opts.service:
                r = gw.call("GET", f"/api/{prefix}/health")
                check(r.status == 200, f"/api/{prefix} still answers", str(r))

    section(f"With the {SERVICES[opts.service]} stopped", run)


def stalled(opts):
    gw = Gateway(opts.base)
    base = f"/api/{opts.service}"

    def run():
        results = {}

        def ask(method):
            try:
                results[method] = gw.call(method, base, {} if method == "POST" else None,
                                          headers={"X-Request-Id": f"gw-stalled-{method.lower()}"})
            except (OSError, http.client.HTTPException) as err:
                results[method] = err

        threads = [threading.Thread(target=ask, args=(method,)) for method in ("GET", "POST")]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        waited = time.monotonic() - started
        for method, r in results.items():
            check(isinstance(r, Response) and is_error_shape(r, 504, "GATEWAY_TIMEOUT")
                  and r.header("x-request-id") == f"gw-stalled-{method.lower()}",
                  f"{method} {base} is 504 in the error shape ({waited:.0f} s)", str(r))

    section(f"With the {SERVICES[opts.service]} frozen", run)


def healthy(opts):
    gw = Gateway(opts.base)

    def run():
        for prefix in SERVICES:
            r = gw.call("GET", f"/api/{prefix}/health")
            check(r.status == 200, f"/api/{prefix}/health answers again", str(r))

    section("After it resumes", run)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    w = commands.add_parser("walk")
    w.add_argument("--base", required=True)
    w.add_argument("--admin-email", required=True)
    w.add_argument("--admin-password", required=True)
    w.add_argument("--db-name", required=True)
    w.add_argument("--logs", required=True, help="folder holding <service>.log")
    d = commands.add_parser("down")
    d.add_argument("--base", required=True)
    d.add_argument("--service", required=True, choices=sorted(SERVICES))
    f = commands.add_parser("stalled")
    f.add_argument("--base", required=True)
    f.add_argument("--service", required=True, choices=sorted(SERVICES))
    h = commands.add_parser("healthy")
    h.add_argument("--base", required=True)
    opts = parser.parse_args()
    {"walk": walk, "down": down, "stalled": stalled, "healthy": healthy}[opts.command](opts)
    if failures:
        print(f"{len(failures)} check(s) failed")
        sys.exit(1)


if __name__ == "__main__":
    main()
