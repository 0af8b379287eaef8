#!/usr/bin/env python3
"""Drives the services through MongoDB failovers under load (scripts/failover-test.sh starts a
three-member replica set and the services, then runs this; Python 3's standard library and
pymongo, from the `mongodb` tool group).

  failover_walk.py initiate --set NAME --ports P1,P2,P3
      initiates the three mongods on 127.0.0.1 as one replica set (code 23, already initiated, is
      fine), the first with the highest priority so that it is the primary at start; once it is,
      makes the priorities equal (so no priority takeover adds an election the run did not ask
      for) and waits until the other two are SECONDARY.
  failover_walk.py run --mongo-uri URI --db-name D --users URL --products URL,URL --orders URL,URL
                       --members PORT:DBPATH:START,... --logs DIR
      sets up a seller, a buyer per client and products through the API, then runs --clients
      threads for the whole run placing single-line orders on a few hot products and two-line
      ones (some with an Idempotency-Key, sent again after a 503), checkouts (paid through
      POST /payments/webhook, signed as Standard Webhooks, or left to expire), cancels, logins,
      order reads and catalog searches, spread over the replicas. Meanwhile: replSetStepDown on
      the primary after --before-stepdown s, a SIGKILL of the primary's mongod --before-kill s
      later, its restart --before-restart s after that (the member's START script), and
      --after s more load. Then it checks, printing one ok/FAIL line each with its figures: every
      answer within 2 s, only 2xx/409/503, no socket error, no 500; a product created after the
      failover listed by both product-service replicas within 2 s; once the order service's
      passes settled (no hold, no unfinished cancel, expiry or revival, no unconfirmed key, no
      checkout past its deadline, every outbox relayed), the stock invariant on every product,
      every key with its order, every order answered 201 readable through the API with its lines
      and the status its history allows, every checkout past its deadline EXPIRED or PLACED,
      each order event recorded once; and both catalog replicas listing what MongoDB holds.
      Finally the figures: requests by kind and status, latencies, the longest gap between a
      client's served requests around each failover event, the time without a primary.

Exits 1 if any check failed.
"""

import argparse
import base64
import concurrent.futures
import datetime
import hashlib
import hmac
import http.client
import json
import os
import random
import secrets
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from collections import Counter, defaultdict
from pathlib import Path

PASSWORD = "correct horse battery"
ANSWER_WITHIN = 2.0
# What a request may be answered during a failover: served (2xx), refused for a reason of the
# order's own (409), or the database is unavailable (503).
ALLOWED_STATUSES = {200, 201, 204, 409, 503}
ALLOWED_CONFLICTS = {"INSUFFICIENT_STOCK", "IDEMPOTENCY_KEY_IN_USE", "ORDER_NOT_CANCELLABLE", "ORDER_NOT_PENDING"}
# Statuses whose orders hold their stock (the contract's invariant).
HOLDING = ["PENDING_PAYMENT", "PLACED", "SHIPPED", "DELIVERED"]
UNFINISHED = ["CANCELLING", "EXPIRING", "REVIVING"]
failures = []


def check(condition, name, detail=""):
    if condition:
        print(f"  ok    {name}")
        return True
    print(f"  FAIL  {name}{': ' + detail if detail else ''}")
    failures.append(name)
    return False


def ms(seconds):
    return f"{seconds * 1000:.0f} ms"


def percentile(values, fraction):
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


# ---------------------------------------------------------------------------------------------
# HTTP


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def code(self):
        body = self.json()
        return body.get("error_code") if isinstance(body, dict) else None

    def __str__(self):
        return f"{self.status} {self.body[:300]!r}"


def http_call(base, method, path, body=None, token=None, headers=None, raw=None, timeout=10):
    """One request on a fresh connection (so a connection the server closed while idle is never
    taken for a failure)."""
    url = urllib.parse.urlsplit(base)
    sent = dict(headers or {})
    payload = raw
    if body is not None:
        payload = json.dumps(body).encode()
        sent.setdefault("Content-Type", "application/json")
    if token:
        sent["Authorization"] = f"Bearer {token}"
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
    try:
        conn.request(method, path, body=payload, headers=sent)
        response = conn.getresponse()
        got = {name.lower(): value for name, value in response.getheaders()}
        return Response(response.status, got, response.read())
    finally:
        conn.close()


class Seen:
    """One request of the load: when it started (monotonic), how long it took, what came back,
    and its X-Request-Id (on the service's log lines of it)."""

    __slots__ = ("client", "kind", "target", "rid", "started", "took", "status", "code", "error", "ended_at")

    def __init__(self, client, kind, target, rid, started, took, status=None, code=None, error=None):
        self.client, self.kind, self.target, self.rid = client, kind, target, rid
        self.started, self.took = started, took
        self.status, self.code, self.error = status, code, error
        self.ended_at = time.time()

    @property
    def served(self):
        return self.status is not None and (200 <= self.status < 300 or self.status == 409)

    def __str__(self):
        answer = f"{self.status} {self.code or ''}".strip() if self.status else self.error
        return f"{self.kind} {self.target} {answer} after {ms(self.took)} (request id {self.rid})"


class Recorder:
    def __init__(self):
        self.seen = []
        self.numbers = iter(range(1, 1 << 62))

    def call(self, client, kind, target, base, method, path, headers=None, **kwargs):
        rid = f"failover-{client}-{next(self.numbers)}"
        headers = {**(headers or {}), "X-Request-Id": rid}
        started = time.monotonic()
        try:
            r = http_call(base, method, path, headers=headers, **kwargs)
        except (OSError, http.client.HTTPException) as err:
            seen = Seen(client, kind, target, rid, started, time.monotonic() - started,
                        error=f"{type(err).__name__}: {err}")
            self.seen.append(seen)
            return None, seen
        seen = Seen(client, kind, target, rid, started, time.monotonic() - started, r.status,
                    r.code() if r.status >= 400 else None)
        self.seen.append(seen)
        return r, seen


def service_latencies(logs, rids):
    """What the services logged of these requests: request id -> (log, latency, status)."""
    found = {}
    for log in Path(logs).glob("*-service*.log"):
        for line in log.read_text(errors="replace").splitlines():
            if '"finished processing request"' not in line:
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            rid = (entry.get("span") or {}).get("request_id")
            if rid in rids:
                found[rid] = (log.stem, entry.get("latency"), entry.get("status"), entry.get("timestamp"))
    return found


# ---------------------------------------------------------------------------------------------
# The replica set


def member_client(port, timeout_ms=2000):
    import pymongo

    return pymongo.MongoClient(f"127.0.0.1:{port}", directConnection=True, serverSelectionTimeoutMS=timeout_ms,
                               connectTimeoutMS=timeout_ms, socketTimeoutMS=timeout_ms)


def hello(port):
    """The member's `hello`, or None when it does not answer."""
    import pymongo.errors

    client = member_client(port, 1000)
    try:
        return client.admin.command("hello")
    except pymongo.errors.PyMongoError:
        return None
    finally:
        client.close()


def initiate(opts):
    import pymongo.errors

    ports = [int(p) for p in opts.ports.split(",")]
    hosts = [f"127.0.0.1:{p}" for p in ports]
    first = member_client(ports[0], 10_000)
    members = [{"_id": i, "host": host, "priority": 2 if i == 0 else 1} for i, host in enumerate(hosts)]
    try:
        first.admin.command("replSetInitiate", {"_id": opts.set, "members": members})
    except pymongo.errors.OperationFailure as err:
        if err.code != 23:  # AlreadyInitialized
            raise
    deadline = time.monotonic() + 90

    def wait(what, done):
        while True:
            try:
                if done():
                    return
            except pymongo.errors.PyMongoError:
                pass
            if time.monotonic() > deadline:
                sys.exit(f"failover_walk.py: {what} within 90 s")
            time.sleep(0.2)

    wait("the first member did not become primary", lambda: (hello(ports[0]) or {}).get("isWritablePrimary"))

    def equal_priorities():
        config = first.admin.command("replSetGetConfig")["config"]
        if all(m.get("priority", 1) == 1 for m in config["members"]):
            return True
        for member in config["members"]:
            member["priority"] = 1
        config["version"] += 1
        first.admin.command("replSetReconfig", config)
        return False

    wait("the priorities could not be made equal", equal_priorities)

    def healthy():
        status = first.admin.command("replSetGetStatus")
        states = sorted(m["stateStr"] for m in status["members"])
        return states == ["PRIMARY", "SECONDARY", "SECONDARY"]

    wait("the replica set did not become PRIMARY + 2 SECONDARY", healthy)
    print(f"replica set {opts.set} on {', '.join(hosts)}: {hosts[0]} primary, priorities equal")


class Member:
    def __init__(self, spec):
        port, dbpath, start = spec.split(":", 2)
        self.port = int(port)
        self.dbpath = Path(dbpath)
        self.start = start

    def pid(self):
        return int((self.dbpath / "mongod.pid").read_text().strip())


class MemberWatch(threading.Thread):
    """Asks one member `hello` every 50 ms and records when its state changes: PRIMARY (writable),
    SECONDARY, other, or down (no answer within 300 ms)."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.state = None
        self.changes = []  # (monotonic time, state)

    def run(self):
        import pymongo.errors

        client = member_client(self.port, 300)
        while True:
            try:
                reply = client.admin.command("hello")
                if reply.get("isWritablePrimary"):
                    state = "PRIMARY"
                elif reply.get("secondary"):
                    state = "SECONDARY"
                else:
                    state = "other"
            except pymongo.errors.PyMongoError:
                state = "down"
            if state != self.state:
                self.changes.append((time.monotonic(), state))
                self.state = state
            time.sleep(0.05)

    def state_at(self, at):
        state = None
        for when, changed in self.changes:
            if when > at:
                break
            state = changed
        return state


class Failovers(threading.Thread):
    """Steps down the primary, kills the next one with SIGKILL, restarts it, at the set times;
    records when each happened and to which member."""

    def __init__(self, members, opts):
        super().__init__(daemon=True)
        self.members = members
        self.opts = opts
        self.watches = [MemberWatch(m.port) for m in members]
        self.events = []  # (name, monotonic time, port)
        self.errors = []
        for watch in self.watches:
            watch.start()

    def primary(self, limit=30):
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            for watch in self.watches:
                if watch.state == "PRIMARY":
                    return watch.port
            time.sleep(0.05)
        return None

    def run(self):
        try:
            self.script()
        except Exception as err:  # noqa: BLE001 - reported as a failed check
            self.errors.append(f"{type(err).__name__}: {err}")

    def script(self):
        import pymongo.errors

        def sleep_until(at):
            while time.monotonic() < at:
                time.sleep(0.02)

        start = time.monotonic()
        sleep_until(start + self.opts.before_stepdown)
        primary = self.primary()
        if primary is None:
            self.errors.append("no primary before the step-down")
            return
        self.events.append(("step-down", time.monotonic(), primary))
        client = member_client(primary, 30_000)
        try:
            client.admin.command("replSetStepDown", 15, secondaryCatchUpPeriodSecs=10)
        except pymongo.errors.AutoReconnect:
            pass  # it may close connections, this one too
        finally:
            client.close()

        sleep_until(self.events[-1][1] + self.opts.before_kill)
        primary = self.primary()
        if primary is None:
            self.errors.append("no primary before the kill")
            return
        member = next(m for m in self.members if m.port == primary)
        os.kill(member.pid(), signal.SIGKILL)
        self.events.append(("SIGKILL", time.monotonic(), primary))

        sleep_until(self.events[-1][1] + self.opts.before_restart)
        self.events.append(("restart", time.monotonic(), primary))
        started = subprocess.run([member.start], capture_output=True, text=True)
        if started.returncode != 0:
            self.errors.append(f"the killed member did not start again: {started.stdout[-500:]}")
        watch = next(w for w in self.watches if w.port == primary)
        deadline = time.monotonic() + 60
        while watch.state not in ("SECONDARY", "PRIMARY"):
            if time.monotonic() > deadline:
                self.errors.append("the restarted member did not rejoin within 60 s")
                return
            time.sleep(0.05)

    def notes(self, load_started):
        """One line per event: what happened and when the set had a primary again."""
        lines = []
        for name, at, port in self.events:
            if name == "restart":
                watch = next(w for w in self.watches if w.port == port)
                back = next(((t, s) for t, s in watch.changes if t > at and s in ("SECONDARY", "PRIMARY")), None)
                primary = next((w.port for w in self.watches if w.state_at(at) == "PRIMARY"), None)
                lines.append(f"{name} of 127.0.0.1:{port} at {at - load_started:.1f} s "
                             f"({'while the set had no primary' if primary is None else 'with a primary'}): "
                             + (f"{back[1]} after {ms(back[0] - at)}" if back else "did not rejoin"))
                continue
            elected = None
            for watch in self.watches:
                if watch.port == port:
                    continue
                when = next((t for t, s in watch.changes if t > at and s == "PRIMARY"), None)
                if when is not None and (elected is None or when < elected[0]):
                    elected = (when, watch.port)
            lines.append(f"{name} of the primary 127.0.0.1:{port} at {at - load_started:.1f} s: "
                         + (f"127.0.0.1:{elected[1]} primary after {ms(elected[0] - at)}" if elected
                            else "no other primary"))
        return lines


# ---------------------------------------------------------------------------------------------
# The shop


class Shop:
    """What setup made and what the load learned, shared by the client threads."""

    def __init__(self, opts):
        self.users = opts.users
        self.products_urls = opts.products.split(",")
        self.orders_urls = opts.orders.split(",")
        self.secret = os.environ["PAYMENT_WEBHOOK_SECRET"]
        self.hot = []  # product ids
        self.spread = []
        self.initial = {}  # product id -> stock when created
        self.names = {}
        self.words = []
        self.orders = {}  # order id -> Placed
        self.lock = threading.Lock()
        self.keys = {}  # (client, key) -> order id of the first 201
        self.attempts = []  # (client, lines, key, Seen) of every POST /orders
        self.user_ids = {}  # client -> user id


class Placed:
    """An order answered 201, and what its client did to it since."""

    def __init__(self, client, order_id, lines, checkout, total, expires_at):
        self.client = client
        self.id = order_id
        self.lines = lines  # {product id: quantity}
        self.checkout = checkout
        self.total = total
        self.expires_at = expires_at
        self.cancelled = None  # True (200), None (not tried), "unknown" (503 / socket)
        self.paid = None  # outcome of a 200, or "unknown"
        self.lock = threading.Lock()


def sign(secret, msg_id, timestamp, body):
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def setup(shop, opts, clients):
    """A seller, products, one buyer per client thread, through the API."""
    tag = secrets.token_hex(4)
    products = shop.products_urls[0]

    def must(r, what, status):
        if r is None or r.status != status:
            sys.exit(f"failover_walk.py: setup: {what}: {r}")
        return r.json()

    seller_email = f"seller-{tag}@example.com"
    must(http_call(shop.users, "POST", "/users/register",
                   {"email": seller_email, "password": PASSWORD, "role": "seller"}), "register the seller", 200)
    seller = must(http_call(shop.users, "POST", "/users/login", {"email": seller_email, "password": PASSWORD}),
                  "log in the seller", 200)["access_token"]
    # Hot products: every client orders them; the last has little stock, so it runs out and
    # cancels and expiries give some back. Spread products: the two-line orders.
    stocks = [("Hot lamp", 1_000_000), ("Hot kettle", 1_000_000), ("Hot scarce mug", 300)]
    stocks += [(f"{name} {i}", 100_000) for i, name in enumerate(
        ["Desk", "Chair", "Shelf", "Rug", "Vase", "Clock", "Mirror", "Stool", "Bench", "Frame", "Basket", "Tray"])]
    for i, (name, stock) in enumerate(stocks):
        full = f"{name} {tag}"
        body = must(http_call(products, "POST", "/products",
                              {"name": full, "price": round(3.5 + i * 1.25, 2), "stock": stock, "category": "Failover"},
                              token=seller), f"create {full}", 201)
        shop.initial[body["id"]] = stock
        shop.names[body["id"]] = full
        (shop.hot if name.startswith("Hot") else shop.spread).append(body["id"])
    shop.words = ["Hot", "lamp", "Desk", "Chair", "mirror", tag, "Nothing such"]
    buyers = []
    for i in range(clients):
        email = f"buyer-{i}-{tag}@example.com"
        must(http_call(shop.users, "POST", "/users/register", {"email": email, "password": PASSWORD}),
             f"register buyer {i}", 200)
        token = must(http_call(shop.users, "POST", "/users/login", {"email": email, "password": PASSWORD}),
                     f"log in buyer {i}", 200)["access_token"]
        buyers.append((email, token))
    return seller, seller_email, buyers


class Client(threading.Thread):
    """One buyer: a loop of weighted random actions until stopped."""

    ACTIONS = ["order", "two_lines", "checkout", "cancel", "login", "browse", "read", "list"]
    WEIGHTS = [30, 14, 14, 8, 3, 18, 8, 5]

    def __init__(self, index, shop, recorder, email, token, stop):
        super().__init__(daemon=True)
        self.index = index
        self.shop = shop
        self.recorder = recorder
        self.email = email
        self.token = token
        self.stop = stop
        self.rng = random.Random(index * 7919 + 20261207)
        self.mine = []  # Placed orders not yet cancelled or tried
        self.all_mine = []
        self.payments = []  # (due, Placed, msg id, first try)
        self.cancels = []  # (due, Placed): cancels to send again after a 503
        self.crashes = []  # answers the client could not read

    def call(self, kind, base, method, path, **kwargs):
        return self.recorder.call(self.index, kind, base, base, method, path, **kwargs)[0]

    def orders_url(self):
        return self.rng.choice(self.shop.orders_urls)

    def run(self):
        while not self.stop.is_set():
            now = time.monotonic()
            try:
                if self.payments and self.payments[0][0] <= now:
                    self.pay(*self.payments.pop(0)[1:])
                elif self.cancels and self.cancels[0][0] <= now:
                    self.cancel(self.cancels.pop(0)[1])
                else:
                    action = self.rng.choices(self.ACTIONS, self.WEIGHTS)[0]
                    getattr(self, action)()
            except Exception as err:  # noqa: BLE001 - an answer of the wrong shape: counted, not fatal
                self.crashes.append(repr(err))
            time.sleep(self.rng.uniform(0.005, 0.025))

    # Orders -------------------------------------------------------------------------------

    def place(self, kind, lines, checkout=False):
        body = {"items": [{"product_id": p, "quantity": q} for p, q in lines.items()]}
        if checkout:
            body["checkout"] = True
        headers = {}
        key = None
        if self.rng.random() < 0.5:
            key = secrets.token_hex(12)
            headers["Idempotency-Key"] = key
        for attempt in range(2):
            base = self.orders_url()
            r, seen = self.recorder.call(self.index, kind if attempt == 0 else f"{kind} (same key again)", base, base,
                                         "POST", "/orders", body=body, token=self.token, headers=headers)
            placed_id = (r.json() or {}).get("id") if r is not None and r.status == 201 else None
            self.shop.attempts.append((self.index, lines, key, seen, placed_id))
            if r is not None and r.status == 201:
                self.placed(r, lines, checkout, key)
                return
            # A 503 (or a lost answer) with a key: the client sends the request again, as a
            # client should; without one it cannot know, and does not.
            if key is None or (r is not None and r.status not in (503,)):
                return
            time.sleep(0.3)

    def placed(self, r, lines, checkout, key):
        body = r.json()
        with self.shop.lock:
            if key is not None:
                first = self.shop.keys.setdefault((self.index, key), body["id"])
                if first != body["id"]:
                    check(False, "an Idempotency-Key sent again returns the first order",
                          f"key {key}: {first} then {body['id']}")
            known = self.shop.orders.get(body["id"])
            if known is None:
                known = Placed(self.index, body["id"], lines, checkout, body["total"], body.get("expires_at"))
                self.shop.orders[body["id"]] = known
                fresh = True
            else:
                fresh = False
        if not fresh:
            return
        self.all_mine.append(known)
        if not checkout:
            self.mine.append(known)
            return
        fate = self.rng.random()
        if fate < 0.5:
            # Paid within the hold (5 s), usually; a 503 is sent again like a provider would.
            due = time.monotonic() + self.rng.uniform(0.2, 2.0)
            self.payments.append((due, known, "msg_" + secrets.token_hex(10), time.monotonic()))
            self.payments.sort(key=lambda p: p[0])
        elif fate < 0.6:
            self.mine.append(known)  # cancelled like any order
        # else: left to expire

    def order(self):
        # Mostly the first hot product, so that its takes queue up and are combined.
        product = self.rng.choices(self.shop.hot, weights=[6, 2, 2])[0]
        self.place("order (hot)", {product: self.rng.randint(1, 3)})

    def two_lines(self):
        a, b = self.rng.sample(self.shop.spread + self.shop.hot[:1], 2)
        self.place("order (two lines)", {a: self.rng.randint(1, 4), b: self.rng.randint(1, 4)})

    def checkout(self):
        product = self.rng.choice(self.shop.hot + self.shop.spread[:3])
        self.place("checkout", {product: self.rng.randint(1, 2)}, checkout=True)

    def pay(self, order, msg_id, first_try):
        amount = round(order.total * 100)
        body = json.dumps({"type": "payment.succeeded", "data": {
            "order_id": order.id, "amount": amount, "currency": "USD", "payment_id": "pay_" + msg_id[4:]}})
        ts = str(int(time.time()))
        headers = {"Content-Type": "application/json", "webhook-id": msg_id, "webhook-timestamp": ts,
                   "webhook-signature": sign(self.shop.secret, msg_id, ts, body)}
        r = self.call("payment", self.orders_url(), "POST", "/payments/webhook", raw=body.encode(), headers=headers)
        with order.lock:
            if r is not None and r.status == 200:
                order.paid = r.json()["outcome"] if order.paid in (None, "unknown") else order.paid
                return
            if r is not None and r.status == 409:
                if order.paid is None:
                    order.paid = "unknown"
                return
            order.paid = order.paid or "unknown"
        # The provider tries again (same event id) for a while.
        if time.monotonic() - first_try < 20:
            self.payments.append((time.monotonic() + 0.5, order, msg_id, first_try))
            self.payments.sort(key=lambda p: p[0])

    def cancel(self, order=None):
        if order is None:
            if not self.mine:
                return self.browse()
            order = self.mine.pop(self.rng.randrange(len(self.mine)))
        r = self.call("cancel", self.orders_url(), "POST", f"/orders/{order.id}/cancel", token=self.token)
        with order.lock:
            if r is not None and r.status == 200:
                order.cancelled = True
            elif order.cancelled is None and (r is None or r.status != 409):
                order.cancelled = "unknown"
        if r is None or r.status == 503:
            self.cancels.append((time.monotonic() + 0.5, order))
        return None

    # Others -------------------------------------------------------------------------------

    def login(self):
        r = self.call("login", self.shop.users, "POST", "/users/login", body={"email": self.email, "password": PASSWORD})
        if r is not None and r.status == 200:
            self.token = r.json()["access_token"]

    def browse(self):
        word = self.rng.choice(self.shop.words)
        self.call("search", self.rng.choice(self.shop.products_urls), "GET",
                  f"/products?q={urllib.parse.quote(word)}&limit=20")

    def read(self):
        if not self.all_mine:
            return self.browse()
        order = self.rng.choice(self.all_mine)
        self.call("read order", self.orders_url(), "GET", f"/orders/{order.id}", token=self.token)
        return None

    def list(self):
        self.call("list orders", self.orders_url(), "GET", "/orders?limit=10", token=self.token)


# ---------------------------------------------------------------------------------------------
# Checks


def check_answers(seen, logs):
    late = [s for s in seen if s.status is not None and s.took > ANSWER_WITHIN]
    errors = [s for s in seen if s.error]
    unexpected = [s for s in seen if s.status is not None and s.status not in ALLOWED_STATUSES]
    conflicts = Counter(s.code for s in seen if s.status == 409)
    odd_conflicts = {code: n for code, n in conflicts.items() if code not in ALLOWED_CONFLICTS}
    slowest = max((s.took for s in seen), default=0)
    logged = service_latencies(logs, {s.rid for s in late[:8] + errors[:8] + unexpected[:8]})

    def told(items):
        return "; ".join(f"{s}, logged {logged.get(s.rid, 'nowhere')}" for s in items[:8]) + f" ({len(items)} in all)"

    check(not late, f"every request answered within 2 s ({len(seen)} requests, slowest {ms(slowest)})", told(late))
    check(not errors, "no socket error", told(errors))
    check(not unexpected, "only 2xx, 409 and 503 (no 500)", told(unexpected))
    check(not odd_conflicts, f"every 409 is one a client can act on ({dict(conflicts)})", str(odd_conflicts))
    unavailable = Counter(s.code for s in seen if s.status == 503)
    check(set(unavailable) <= {"DB_UNAVAILABLE", "OVERLOADED"},
          f"every 503 is DB_UNAVAILABLE or OVERLOADED ({dict(unavailable)})")


def wait_for_listing(shop, token, via, others):
    """Creates a product through `via` and times until every replica's search lists it."""
    name = f"After failover {secrets.token_hex(6)}"
    r = http_call(via, "POST", "/products", {"name": name, "price": 9.99, "stock": 5}, token=token)
    if r.status != 201:
        check(False, f"create a product through {via} after the failover", str(r))
        return
    created = time.monotonic()
    shop.initial[r.json()["id"]] = 5
    shop.names[r.json()["id"]] = name
    product = r.json()["id"]
    listed = {}
    while len(listed) < len(others) and time.monotonic() - created < 10:
        for base in others:
            if base in listed:
                continue
            try:
                got = http_call(base, "GET", f"/products?q={urllib.parse.quote(name)}", timeout=5)
            except (OSError, http.client.HTTPException):
                continue
            if got.status == 200 and [p["id"] for p in got.json()] == [product]:
                listed[base] = time.monotonic() - created
        time.sleep(0.02)
    figures = ", ".join(f"{base} after {ms(took)}" for base, took in listed.items())
    check(len(listed) == len(others) and max(listed.values()) <= 2.0,
          f"a product created through {via} is listed by every product-service replica within 2 s ({figures})",
          f"listed by {len(listed)} of {len(others)} within 10 s")


def follow_checks(shop, seller):
    wait_for_listing(shop, seller, shop.products_urls[0], shop.products_urls)
    wait_for_listing(shop, seller, shop.products_urls[1], shop.products_urls)


def settle(db, limit, load_stopped):
    """Waits until the order service's passes have finished everything, up to `limit` s."""
    import pymongo.errors

    started = time.monotonic()
    while True:
        try:
            left = {
                "products with holds": db.products.count_documents({"holds.0": {"$exists": True}}),
                "orders CANCELLING/EXPIRING/REVIVING": db.orders.count_documents({"status": {"$in": UNFINISHED}}),
                # Every checkout's deadline passes within CHECKOUT_HOLD_SECS of the load's end.
                "checkouts PENDING_PAYMENT": db.orders.count_documents({"status": "PENDING_PAYMENT"}),
                "unconfirmed idempotency keys": db.idempotency_keys.count_documents({"confirmed": False}),
                "orders with events not relayed": db.orders.count_documents({"outbox.0": {"$exists": True}}),
                "products with events not relayed": db.products.count_documents({"outbox.0": {"$exists": True}}),
            }
        except pymongo.errors.PyMongoError as err:
            left = {"MongoDB": repr(err)}
        left = {what: n for what, n in left.items() if n}
        if not left or time.monotonic() - started > limit:
            break
        time.sleep(0.25)
    waited = time.monotonic() - load_stopped
    check(not left, f"nothing left unfinished {waited:.1f} s after the load stopped (holds, cancels, "
                    f"expiries, revivals, unconfirmed keys, checkouts pending, outboxes)", str(left))


def check_database(db, shop):
    from bson import ObjectId

    ids = [ObjectId(p) for p in shop.initial]
    products = {str(p["_id"]): p for p in db.products.find({"_id": {"$in": ids}})}
    units = Counter()
    for order in db.orders.find({"status": {"$in": HOLDING}}, {"items": 1}):
        for line in order["items"]:
            units[str(line["product_id"])] += line["quantity"]
    broken = []
    for product, initial in shop.initial.items():
        doc = products.get(product)
        if doc is None or doc["stock"] + units[product] != initial or doc["stock"] < 0 or doc.get("holds"):
            broken.append(f"{shop.names[product]}: initial {initial}, stock {doc and doc['stock']}, "
                          f"in orders {units[product]}, holds {doc and len(doc.get('holds') or [])}")
    sold = sum(units[p] for p in shop.initial)
    check(not broken, f"the stock invariant holds on all {len(shop.initial)} products "
                      f"(initial = stock + units in {'/'.join(HOLDING)} orders; {sold} units in orders)",
          "; ".join(broken))

    statuses = Counter()
    stored = {}
    for order in db.orders.find({}, {"status": 1, "items": 1, "user_id": 1, "pay_by": 1}):
        stored[str(order["_id"])] = order
        statuses[order["status"]] += 1
    print(f"  orders stored: {dict(sorted(statuses.items()))}")

    keys = list(db.idempotency_keys.find({}))
    orphan = [k for k in keys if not k.get("confirmed")
              or stored.get(str(k["order_id"]), {}).get("status") in (None, "FAILED")]
    check(not orphan, f"no idempotency key left claimed without its order ({len(keys)} keys, all confirmed "
                      f"with a stored order)", f"{len(orphan)} keys: {[str(k['order_id']) for k in orphan[:5]]}")

    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    overdue = [o for o in stored.values() if o.get("pay_by") and o["pay_by"] < now
               and o["status"] in ("PENDING_PAYMENT", "EXPIRING", "REVIVING")]
    checkouts = [o for o in stored.values() if o.get("pay_by") and o["pay_by"] < now]
    check(not overdue, f"every checkout past its deadline is settled ({len(checkouts)} checkouts: "
                       f"{dict(Counter(o['status'] for o in checkouts))})",
          f"{len(overdue)} left: {[str(o['_id']) for o in overdue[:5]]}")

    # Each order's events: no type twice for one order (an expiry, a payment or a cancel applied
    # twice would record its event twice), and the event of its status there.
    events = defaultdict(Counter)
    for event in db.events.find({"type": {"$regex": "^order\\."}}, {"type": 1, "data": 1}):
        data = json.loads(event["data"]) if isinstance(event.get("data"), str) else None
        if isinstance(data, dict) and "id" in data:
            events[data["id"]][event["type"]] += 1
    twice = {o: dict(c) for o, c in events.items() if any(n > 1 for n in c.values())}
    wanted = {"EXPIRED": "order.expired", "CANCELLED": "order.cancelled", "REFUND_DUE": "order.refund_due"}
    missing = [o for o, doc in stored.items() if doc["status"] in wanted and events[o][wanted[doc["status"]]] != 1]
    check(not twice and not missing,
          f"each order's events recorded once ({sum(sum(c.values()) for c in events.values())} order events; "
          f"order.expired × {sum(c['order.expired'] for c in events.values())})",
          f"twice: {list(twice.items())[:3]}; missing for {missing[:5]}")
    return stored, events


def check_orders(shop, tokens, stored, events):
    """Every order answered 201, read back through the order service, and what its history allows."""

    def expected(placed):
        if placed.cancelled is True:
            return {"CANCELLED"}
        allowed = set()
        if placed.cancelled == "unknown":
            allowed.add("CANCELLED")
        if not placed.checkout:
            return allowed | {"PLACED"}
        if placed.paid == "paid":
            return allowed | {"PLACED"}
        if placed.paid in ("paid_after_expiry",):
            return allowed | {"PLACED"}
        if placed.paid == "refund_due":
            return allowed | {"REFUND_DUE"}
        if placed.paid == "replayed" or placed.paid == "unknown":
            return allowed | {"PLACED", "EXPIRED", "REFUND_DUE"}
        return allowed | {"EXPIRED"}

    def read(placed):
        base = shop.orders_urls[hash(placed.id) % len(shop.orders_urls)]
        for _ in range(3):
            try:
                r = http_call(base, "GET", f"/orders/{placed.id}", token=tokens[placed.client], timeout=5)
            except (OSError, http.client.HTTPException) as err:
                r = err
                continue
            if r.status != 503:
                break
        return placed, r

    wrong = []
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        for placed, r in pool.map(read, list(shop.orders.values())):
            if not isinstance(r, Response) or r.status != 200:
                wrong.append(f"{placed.id}: {r}")
                continue
            body = r.json()
            lines = {line["product_id"]: line["quantity"] for line in body["items"]}
            if lines != placed.lines:
                wrong.append(f"{placed.id}: lines {lines}, sent {placed.lines}")
            elif body["status"] not in expected(placed):
                wrong.append(f"{placed.id}: {body['status']}, expected one of {sorted(expected(placed))} "
                             f"(checkout {placed.checkout}, paid {placed.paid}, cancelled {placed.cancelled})")
            elif (stored.get(placed.id) or {}).get("status") in (None, "FAILED"):
                wrong.append(f"{placed.id}: not stored")
            else:
                first = "order.pending_payment" if placed.checkout else "order.placed"
                if events[placed.id][first] != 1:
                    wrong.append(f"{placed.id}: {first} recorded {events[placed.id][first]} times")
    by_kind = Counter(("checkout" if p.checkout else "order") for p in shop.orders.values())
    check(not wrong, f"all {len(shop.orders)} are readable through the order service with their lines, "
                     f"the status their history allows and their first event ({dict(by_kind)})",
          "; ".join(wrong[:6]) + f" ({len(wrong)} in all)")
    # Orders stored whose client never heard 201: the request was answered 503 after the insert
    # was sent (its outcome unknown to the service too), and no repeat with its key learned it.
    answered = set(shop.orders)
    clients = {user: client for client, user in shop.user_ids.items()}
    unanswered = [(o, doc) for o, doc in stored.items() if o not in answered and doc["status"] != "FAILED"]
    print(f"  orders stored whose client never got their 201: {len(unanswered)}")
    for order, doc in unanswered[:10]:
        client = clients.get(str(doc["user_id"]))
        lines = {str(line["product_id"]): line["quantity"] for line in doc["items"]}
        # The order id was chosen when its request began (its first 4 bytes: Unix seconds).
        began = int(order[:8], 16)
        tries = [f"{seen.status or seen.error} {seen.code or ''} {'key ' + key[:8] if key else 'no key'} "
                 f"{'→ ' + placed_id + ' ' if placed_id else ''}(request id {seen.rid}, {ms(seen.took)})"
                 for c, sent, key, seen, placed_id in shop.attempts
                 if c == client and sent == lines and began - 3 <= seen.ended_at - seen.took <= began + 4]
        print(f"        {order} ({doc['status']}), sent by client {client}: {'; '.join(tries) or 'no such request'}")


def check_catalogs(shop, seller_id):
    """Both replicas' read models list what MongoDB holds: every product, and in stock exactly
    those with stock (the model's stock follows the order service's takes and returns)."""
    truth = {}
    for product in shop.initial:
        r = http_call(shop.products_urls[0], "GET", f"/products/{product}")
        truth[product] = r.json()["stock"] if r.status == 200 else None
    in_stock = {p for p, stock in truth.items() if stock}
    for base in shop.products_urls:
        deadline = time.monotonic() + 2
        while True:
            every = http_call(base, "GET", f"/products?seller_id={seller_id}&limit=1000")
            stocked = http_call(base, "GET", f"/products?seller_id={seller_id}&in_stock=true&limit=1000")
            got_all = {p["id"] for p in every.json()} if every.status == 200 else None
            got_in_stock = {p["id"] for p in stocked.json()} if stocked.status == 200 else None
            if (got_all == set(truth) and got_in_stock == in_stock) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        check(got_all == set(truth) and got_in_stock == in_stock,
              f"{base} lists the seller's {len(truth)} products, {len(in_stock)} of them in stock, as MongoDB holds",
              f"all: {len(got_all or ())}, in stock: {sorted(got_in_stock or ())} vs {sorted(in_stock)}")


# ---------------------------------------------------------------------------------------------
# Figures


def figures(seen, failovers, load_started):
    took = [s.took for s in seen if s.status is not None]
    print(f"  requests: {len(seen)} in {failovers.run_seconds:.0f} s ({len(seen) / failovers.run_seconds:.0f}/s), "
          f"by status: {dict(sorted(Counter(s.status or 'socket error' for s in seen).items(), key=str))}")
    print(f"  latency: p50 {ms(percentile(took, 0.5))}, p99 {ms(percentile(took, 0.99))}, max {ms(max(took, default=0))}")
    print(f"  {'kind':<30} {'requests':>8} {'2xx':>6} {'409':>6} {'503':>6} {'other':>6} {'p50':>7} {'p99':>7} {'max':>7}")
    kinds = defaultdict(list)
    for s in seen:
        kinds[s.kind].append(s)
    for kind, items in sorted(kinds.items()):
        t = [s.took for s in items if s.status is not None]
        count = Counter("2xx" if s.status and 200 <= s.status < 300 else s.status for s in items)
        other = len(items) - count["2xx"] - count[409] - count[503]
        print(f"  {kind:<30} {len(items):>8} {count['2xx']:>6} {count[409]:>6} {count[503]:>6} {other:>6} "
              f"{percentile(t, 0.5) * 1000:>5.0f}ms {percentile(t, 0.99) * 1000:>5.0f}ms {max(t, default=0) * 1000:>5.0f}ms")
    for note in failovers.notes(load_started):
        print(f"  {note}")
    # Around each event, per client: from its last served request (2xx or 409) that ended before
    # the event to its first served request that ended after it.
    served = defaultdict(list)
    for s in seen:
        if s.served:
            served[s.client].append(s.started + s.took)
    for client_ends in served.values():
        client_ends.sort()
    ends = [at for _, at, _ in failovers.events[1:]] + [load_started + failovers.run_seconds]
    for (name, at, _), until in zip(failovers.events, ends):
        gaps = []
        for client_ends in served.values():
            before = [e for e in client_ends if e <= at]
            after = [e for e in client_ends if e > at]
            if before and after:
                gaps.append(after[0] - before[-1])
        unavailable = [s for s in seen if s.status == 503 and at <= s.started + s.took < until]
        at_once = sum(1 for s in unavailable if s.took < 0.1)
        print(f"  {name} at {at - load_started:.1f} s: longest gap between a client's served requests "
              f"{ms(max(gaps, default=0))} (median over {len(gaps)} clients {ms(statistics.median(gaps) if gaps else 0)}); "
              f"503s answered from it to {'the next event' if until != ends[-1] else 'the end of the load'}: "
              f"{len(unavailable)} ({at_once} within 100 ms)")


def combining(shop):
    """How the order replicas combined takes and inserts (their /metrics summaries)."""
    for base in shop.orders_urls:
        r = http_call(base, "GET", "/metrics")
        values = {}
        for line in r.body.decode(errors="replace").splitlines():
            if line.startswith("#") or " " not in line:
                continue
            series, value = line.rsplit(" ", 1)
            name = series.split("{")[0]
            if name.endswith(("_sum", "_count")) or 'quantile="1"' in series:
                values[name if "quantile" not in series else f"{name}_max"] = float(value)
        parts = []
        for name, what in (("order_take_batch_size", "takes"), ("order_insert_batch_size", "inserts")):
            count, total = values.get(f"{name}_count", 0), values.get(f"{name}_sum", 0)
            parts.append(f"{total:.0f} {what} in {count:.0f} writes ({total / max(count, 1):.2f} a write)")
        print(f"  combined on {base}: {'; '.join(parts)}")


def scan_logs(logs):
    """No panic in any service's log; its ERROR lines (every 5xx is one) summed up by message."""
    for log in sorted(Path(logs).glob("*-service*.log")):
        panics, errors = [], Counter()
        for line in log.read_text(errors="replace").splitlines():
            if "panicked" in line:
                panics.append(line)
            if '"level":"ERROR"' in line:
                try:
                    entry = json.loads(line)
                except ValueError:
                    entry = {"message": line[:200]}
                errors[f"{entry.get('message')}: {str(entry.get('error', ''))[:160]}"] += 1
        check(not panics, f"{log.name}: no panic; {sum(errors.values())} ERROR lines", panics[0][:300] if panics else "")
        for message, count in errors.most_common(4):
            print(f"        {count} × {message}")


def section(title, run, *args):
    """Runs one group of checks; an exception is a failed check, not the end of the walk."""
    print(title)
    try:
        return run(*args)
    except Exception as err:  # noqa: BLE001 - sockets, answers of the wrong shape, pymongo
        check(False, f"{title}: unexpected", repr(err))
    return None


def run(opts):
    import pymongo

    shop = Shop(opts)
    members = [Member(spec) for spec in opts.members.split(",")]
    client = pymongo.MongoClient(opts.mongo_uri, serverSelectionTimeoutMS=30_000)
    db = client[opts.db_name]
    concern = client.admin.command("getDefaultRWConcern")
    print(f"MongoDB's default write concern: {concern.get('defaultWriteConcern')} "
          f"(source: {concern.get('defaultWriteConcernSource')}); default read concern "
          f"{concern.get('defaultReadConcern')} (source: {concern.get('defaultReadConcernSource')})")

    seller, seller_email, buyers = setup(shop, opts, opts.clients)
    for i, (_, token) in enumerate(buyers):
        claims = token.split(".")[1]
        shop.user_ids[i] = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))["sub"]
    seller_id = http_call(shop.users, "GET", "/users/me", token=seller).json()["id"]
    print(f"set up: a seller, {len(buyers)} buyers, {len(shop.initial)} products "
          f"(replicas: products {', '.join(shop.products_urls)}; orders {', '.join(shop.orders_urls)})")

    recorder = Recorder()
    stop = threading.Event()
    clients = [Client(i, shop, recorder, email, token, stop) for i, (email, token) in enumerate(buyers)]
    failovers = Failovers(members, opts)
    load_started = time.monotonic()
    for c in clients:
        c.start()
    failovers.start()
    total = opts.before_stepdown + opts.before_kill + opts.before_restart + opts.after
    print(f"load: {len(clients)} clients for {total} s; step-down at {opts.before_stepdown} s, "
          f"SIGKILL of the primary {opts.before_kill} s later, its restart {opts.before_restart} s after that")
    sys.stdout.flush()
    while time.monotonic() - load_started < total:
        time.sleep(0.2)
    failovers.join(timeout=60)
    stop.set()
    for c in clients:
        c.join(timeout=30)
    load_stopped = time.monotonic()
    failovers.run_seconds = load_stopped - load_started
    check(not failovers.errors and len(failovers.events) == 3,
          "the step-down, the SIGKILL and the restart happened", "; ".join(failovers.errors))

    crashes = [crash for c in clients for crash in c.crashes]
    check(not crashes, "every 2xx answer had the shape the clients expect", f"{len(crashes)}: {crashes[:3]}")
    seen = list(recorder.seen)
    section("Answers during the run", check_answers, seen, opts.logs)
    section("The catalog follows a product created after the failover", follow_checks, shop, seller)
    section("The order service's passes settle", settle, db, opts.settle, load_stopped)
    stored_events = section("The database at rest", check_database, db, shop)
    if stored_events:
        tokens = {c.index: c.token for c in clients}
        section("Every order answered 201", check_orders, shop, tokens, *stored_events)
    section("The catalog read models after the run", check_catalogs, shop, seller_id)
    section("Figures", figures, seen, failovers, load_started)
    section("Group commit during the run", combining, shop)
    section("The services' logs", scan_logs, opts.logs)
    print()
    if failures:
        print(f"{len(failures)} checks failed")
        return 1
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("initiate")
    p.add_argument("--set", required=True)
    p.add_argument("--ports", required=True)
    p = sub.add_parser("run")
    for name in ("--mongo-uri", "--db-name", "--users", "--products", "--orders", "--members", "--logs"):
        p.add_argument(name, required=True)
    p.add_argument("--clients", type=int, default=24)
    p.add_argument("--before-stepdown", type=float, default=15)
    p.add_argument("--before-kill", type=float, default=20)
    p.add_argument("--before-restart", type=float, default=10)
    p.add_argument("--after", type=float, default=15)
    p.add_argument("--settle", type=float, default=60)
    opts = parser.parse_args()
    if opts.command == "initiate":
        initiate(opts)
        return 0
    return run(opts)


if __name__ == "__main__":
    sys.exit(main())
