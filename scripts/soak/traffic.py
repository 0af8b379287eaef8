#!/usr/bin/env python3
"""Mixed traffic for scripts/soak.sh: seeds a catalog, runs virtual users against the three
services for a while, samples the services' memory, then checks that no stock was lost or
invented and prints a report. Exits 1 on any unexpected outcome or a broken invariant.

    python3 traffic.py --users URL --products URL --orders URL --admin EMAIL:PASSWORD
                       [--minutes N] [--vus 16] [--think-ms 20-80] [--pid NAME=PID ...]
                       [--log NAME=FILE ...]

Each virtual user has its own client address (X-Forwarded-For, which the user service is told to
trust), its own account and one keep-alive connection per service, and repeats a weighted mix:
browse a page of the catalog (paging, category, sort, filters), search, read one product, read the
categories, log in (sometimes with a wrong password), refresh its tokens, place an order of 1-3
lines (sometimes with an Idempotency-Key, sometimes replayed), cancel one of its orders, list its
orders, with a short random pause between actions.

Expected refusals are counted apart from errors: 409 INSUFFICIENT_STOCK on an order, 401
INVALID_CREDENTIALS on a wrong password, and 429 RATE_LIMITED (with Retry-After) on the login,
refresh and register routes, after which the user sends none of those before Retry-After has
passed. Anything else is unexpected: a 5xx, a socket error or timeout, any other status, a 429
without Retry-After or again right after waiting it out, or a 2xx whose body breaks the contract
(a replay with another order id, a cancel that does not answer CANCELLED, ...).

Standard library only.
"""

import argparse
import collections
import http.client
import json
import os
import random
import secrets
import select
import sys
import threading
import time
import urllib.parse
import uuid

# A server may close a kept-alive connection between requests: after HEADER_READ_TIMEOUT_SECS
# (default 10 s) of idleness, and at other times (the user service sometimes does after a 429). A
# request sent on such a connection fails for no fault of the service, so, as careful clients do,
# a connection is checked before reuse and replaced when the server has closed it, and one idle
# for longer than this is replaced anyway (the server might be closing it just then). Any socket
# error left is a real one.
IDLE_RECONNECT_SECS = 5.0
REQUEST_TIMEOUT_SECS = 15.0
PAGE = 20
# Failed logins per email allowed within 15 minutes before the account is locked (429
# TOO_MANY_ATTEMPTS). A user mistypes its own password at most one less than that; further wrong
# passwords go to addresses that have no account (still 401, as the contract makes them alike).
OWN_FAILURES_MAX = 4
FAILURE_WINDOW_SECS = 15 * 60

# Relative weights of the actions of a virtual user.
WEIGHTS = {
    "browse": 30,
    "search": 15,
    "product": 20,
    "categories": 5,
    "login": 0.6,
    "login_wrong": 0.2,
    "refresh": 1.5,
    "order": 15,
    "cancel": 5,
    "my_orders": 8,
}
# Every kind of request, in report order (order_replay is sent by an order action).
KINDS = [
    "browse", "search", "product", "categories", "login", "login_wrong", "refresh",
    "order", "order_replay", "cancel", "my_orders",
]
AUTH_KINDS = {"login", "login_wrong", "refresh"}
SUCCESS = {
    "browse": 200, "search": 200, "product": 200, "categories": 200, "login": 200,
    "refresh": 200, "order": 201, "order_replay": 201, "cancel": 200, "my_orders": 200,
}
# Refusals that are a correct answer to what the user did: (kind, status, error_code).
EXPECTED_REFUSALS = {
    ("order", 409, "INSUFFICIENT_STOCK"),
    ("login_wrong", 401, "INVALID_CREDENTIALS"),
} | {(kind, 429, "RATE_LIMITED") for kind in AUTH_KINDS}

CATEGORIES = ["Books", "Garden", "Kitchen", "Outdoor", "Toys", "Music"]
ADJECTIVES = ["red", "blue", "green", "small", "large", "vintage", "smart", "quiet", "rapid", "solid"]
NOUNS = ["lamp", "chair", "kettle", "tent", "guitar", "drone", "novel", "shovel", "puzzle", "mug"]
# Searches: whole words, fragments, and characters that must be taken literally.
SEARCHES = ADJECTIVES + NOUNS + ["ee", "tar", "sma", "(", ".*", "a\\b", "lamp 1", "zzz"]
SORTS = [None, "created_at", "-created_at", "price", "-price", "name"]


class TransportError(Exception):
    """No HTTP response: the connection failed or timed out."""

    def __init__(self, what):
        super().__init__(what)
        self.what = what


class Reply:
    """One HTTP response."""

    def __init__(self, status, headers, raw, elapsed):
        self.status = status
        self.headers = headers
        self.raw = raw
        self.elapsed = elapsed
        try:
            self.body = json.loads(raw) if raw else None
        except ValueError:
            self.body = None

    @property
    def error_code(self):
        return self.body.get("error_code", "") if isinstance(self.body, dict) else ""

    @property
    def detail(self):
        if isinstance(self.body, dict):
            return str(self.body.get("detail", ""))[:200]
        return self.raw[:200].decode("utf-8", "replace")


class Client:
    """A keep-alive connection to one service, sending as one client address."""

    def __init__(self, name, base_url, forwarded_for):
        self.name = name
        parsed = urllib.parse.urlsplit(base_url)
        self.host, self.port = parsed.hostname, parsed.port
        self.forwarded_for = forwarded_for
        self.conn = None
        self.last_used = 0.0
        self.last_reply = None  # (kind, status) of the last response on this connection
        self.closed_by_server = collections.Counter()  # (kind, status) of the response before

    def server_closed(self):
        """Whether the server has closed the idle connection (it is readable: EOF or a reset)."""
        sock = self.conn.sock
        if sock is None:
            return False
        # Nothing is due on an idle connection: readable means closed, reset or unusable.
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable)

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def send(self, method, path, body=None, token=None, headers=None, kind=""):
        """Returns a Reply, or raises TransportError."""
        now = time.monotonic()
        if self.conn is not None and now - self.last_used > IDLE_RECONNECT_SECS:
            self.close()
        elif self.conn is not None and self.server_closed():
            self.closed_by_server[self.last_reply] += 1
            self.close()
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=REQUEST_TIMEOUT_SECS)
        all_headers = {"X-Forwarded-For": self.forwarded_for, "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            all_headers["Content-Type"] = "application/json"
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        all_headers.update(headers or {})
        started = time.perf_counter()
        try:
            self.conn.request(method, path, body=data, headers=all_headers)
            response = self.conn.getresponse()
            raw = response.read()
        except TimeoutError:
            self.close()
            raise TransportError("timeout") from None
        except (OSError, http.client.HTTPException) as err:
            self.close()
            raise TransportError(f"socket error ({type(err).__name__})") from None
        elapsed = time.perf_counter() - started
        self.last_used = time.monotonic()
        self.last_reply = (kind, response.status)
        if response.will_close:
            self.close()
        headers = {name.lower(): value for name, value in response.getheaders()}
        return Reply(response.status, headers, raw, elapsed)


def retry_after_of(reply):
    """The whole seconds of a valid Retry-After header, or None."""
    value = reply.headers.get("retry-after", "")
    return int(value) if value.isdigit() and int(value) > 0 else None


class Stats:
    """Outcomes and latencies of every request, shared by the virtual users."""

    def __init__(self):
        self.lock = threading.Lock()
        self.outcomes = collections.Counter()  # (kind, outcome, error_code, expected) -> count
        self.latencies = collections.defaultdict(list)  # kind -> seconds
        self.samples = []  # first unexpected outcomes, for the report
        self.unexpected = 0
        self.interval_latencies = []
        self.interval_unexpected = 0
        self.closed_by_server = collections.Counter()  # (service, kind, status before) -> count

    def add_closed_by_server(self, client):
        with self.lock:
            for (kind, status), count in client.closed_by_server.items():
                self.closed_by_server[(client.name, kind, status)] += count

    def record(self, kind, outcome, code, expected, elapsed=None, note="", request_id=""):
        with self.lock:
            self.outcomes[(kind, outcome, code, expected)] += 1
            if elapsed is not None:
                self.latencies[kind].append(elapsed)
                self.interval_latencies.append(elapsed)
            if not expected:
                self.unexpected += 1
                self.interval_unexpected += 1
                if len(self.samples) < 25:
                    stamp = time.strftime("%H:%M:%S", time.gmtime())
                    self.samples.append(f"{stamp} {kind} {outcome} {code} {note} {request_id}".rstrip())

    def take_interval(self):
        """Latencies and unexpected outcomes since the last call."""
        with self.lock:
            latencies, self.interval_latencies = self.interval_latencies, []
            unexpected, self.interval_unexpected = self.interval_unexpected, 0
        return latencies, unexpected


def percentile(values, fraction):
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def must(reply, status, what):
    """Setup steps must succeed; anything else stops the run."""
    if reply.status != status:
        sys.exit(f"setup: {what} answered {reply.status} {reply.error_code} {reply.detail}")
    return reply.body


class World:
    """What the virtual users share: service addresses, the catalog and the run's figures."""

    def __init__(self, args, stats):
        self.args = args
        self.stats = stats
        self.run_tag = secrets.token_hex(4)
        self.product_ids = []  # in creation order: the first ones are the popular ones
        self.initial_stock = {}
        self.seller_id = None
        self.lock = threading.Lock()
        self.placed = 0  # orders answered 201 and not replayed
        self.cancelled = 0

    def seed_catalog(self, count):
        """A seller with `count` products in a few categories; one in ten has little stock."""
        rng = random.Random(7)
        users = Client("user-service", self.args.users, "10.255.0.1")
        products = Client("product-service", self.args.products, "10.255.0.1")
        email, password = f"soak-seller-{self.run_tag}@example.com", secrets.token_urlsafe(16)
        seller = must(users.send("POST", "/users/register",
                                 {"email": email, "password": password, "role": "seller"}), 200, "register seller")
        self.seller_id = seller["id"]
        token = must(users.send("POST", "/users/login", {"email": email, "password": password}), 200,
                     "seller login")["access_token"]
        for i in range(count):
            stock = rng.randint(5, 30) if i % 10 == 3 else rng.randint(500, 3000)
            body = {
                "name": f"{rng.choice(ADJECTIVES).title()} {rng.choice(NOUNS)} {i}",
                "description": "Soak test product",
                "price": round(rng.uniform(1, 500), 2),
                "category": CATEGORIES[i % len(CATEGORIES)],
                "stock": stock,
            }
            product = must(products.send("POST", "/products", body, token), 201, "create product")
            self.product_ids.append(product["id"])
            self.initial_stock[product["id"]] = stock
        users.close()
        products.close()

    def pick_products(self, rng, lines):
        """Distinct products, the first of the catalog far more often than the last."""
        chosen = set()
        while len(chosen) < lines:
            chosen.add(self.product_ids[int(len(self.product_ids) * rng.random() ** 2)])
        return list(chosen)


class VirtualUser(threading.Thread):
    """One shopper with its own address, account and connections."""

    def __init__(self, world, number, deadline):
        super().__init__(daemon=True, name=f"vu{number}")
        self.world = world
        self.stats = world.stats
        self.number = number
        self.deadline = deadline
        self.rng = random.Random(number * 7919 + 1)
        self.address = f"10.77.{number // 250}.{number % 250 + 1}"
        self.users = Client("user-service", world.args.users, self.address)
        self.products = Client("product-service", world.args.products, self.address)
        self.orders = Client("order-service", world.args.orders, self.address)
        self.email = f"soak-vu{number}-{world.run_tag}@example.com"
        self.password = secrets.token_urlsafe(12)
        self.user_id = None
        self.token = None
        self.token_renew_at = 0.0
        self.refresh_token = None
        self.auth_not_before = 0.0  # Retry-After of the last 429 of the rate-limited routes
        self.waited_out = False  # the next auth request follows a 429 that was waited out
        self.own_failures = collections.deque()
        self.strangers = 0
        self.my_placed = []  # own orders still PLACED
        self.actions = list(WEIGHTS)
        self.weights = [WEIGHTS[action] for action in self.actions]

    def sign_up(self):
        user = must(self.users.send("POST", "/users/register", {"email": self.email, "password": self.password}),
                    200, "register buyer")
        self.user_id = user["id"]
        self.take_tokens(must(self.users.send("POST", "/users/login",
                                              {"email": self.email, "password": self.password}), 200, "buyer login"))

    def take_tokens(self, body):
        self.token = body["access_token"]
        self.refresh_token = body["refresh_token"]
        self.token_renew_at = time.monotonic() + max(60, int(body.get("expires_in", 1800)) - 120)

    def call(self, kind, client, method, path, body=None, token=None, headers=None, check=None):
        """Sends one request and records its outcome; returns the Reply, or None without one.

        `check(reply)` may name what is wrong with a successful answer."""
        if kind in AUTH_KINDS:
            waited_out, self.waited_out = self.waited_out, False
        try:
            reply = client.send(method, path, body, token, headers, kind)
        except TransportError as err:
            self.stats.record(kind, err.what, "", False)
            return None
        code = reply.error_code
        note = ""
        if reply.status == SUCCESS.get(kind):
            expected = True
            if check is not None:
                note = check(reply) or ""
                expected = not note
        else:
            expected = (kind, reply.status, code) in EXPECTED_REFUSALS
            note = reply.detail
            if reply.status == 429:
                retry_after = retry_after_of(reply)
                if retry_after is None:
                    expected, note = False, "429 without a valid Retry-After"
                else:
                    if kind in AUTH_KINDS:
                        if waited_out:
                            expected, note = False, f"429 again after waiting out Retry-After ({retry_after} s)"
                        self.auth_not_before = time.monotonic() + retry_after
                        self.waited_out = True
        self.stats.record(kind, reply.status, code, expected, reply.elapsed, note, reply.headers.get("x-request-id", ""))
        return reply

    def run(self):
        try:
            while time.monotonic() < self.deadline:
                action = self.rng.choices(self.actions, self.weights)[0]
                if action in AUTH_KINDS and time.monotonic() < self.auth_not_before:
                    action = "browse"  # obeying Retry-After: something else meanwhile
                elif time.monotonic() > self.token_renew_at and time.monotonic() >= self.auth_not_before:
                    action = "login"
                getattr(self, f"do_{action}")()
                lo, hi = self.world.args.think_ms
                time.sleep(self.rng.uniform(lo, hi) / 1000)
        finally:
            for client in (self.users, self.products, self.orders):
                client.close()
                self.stats.add_closed_by_server(client)

    # Catalog.

    def do_browse(self):
        query = {"limit": PAGE, "offset": self.rng.randrange(0, len(self.world.product_ids) + PAGE, PAGE)}
        sort = self.rng.choice(SORTS)
        if sort:
            query["sort"] = sort
        if self.rng.random() < 0.3:
            query["category"] = self.rng.choice(CATEGORIES)
            query["offset"] = self.rng.randrange(0, 60, PAGE)
        if self.rng.random() < 0.15:
            query["in_stock"] = "true"
        if self.rng.random() < 0.1:
            low = self.rng.randint(0, 300)
            query.update(min_price=low, max_price=low + self.rng.randint(0, 200))
        self.call("browse", self.products, "GET", "/products?" + urllib.parse.urlencode(query), check=is_list)

    def do_search(self):
        query = {"q": self.rng.choice(SEARCHES), "limit": PAGE}
        if self.rng.random() < 0.3:
            query["sort"] = "price"
        self.call("search", self.products, "GET", "/products?" + urllib.parse.urlencode(query), check=is_list)

    def do_product(self):
        product_id = self.rng.choice(self.world.product_ids)

        def check(reply):
            if not isinstance(reply.body, dict) or reply.body.get("id") != product_id:
                return "another product than the one asked for"
            return None

        self.call("product", self.products, "GET", f"/products/{product_id}", check=check)

    def do_categories(self):
        self.call("categories", self.products, "GET", "/categories", check=is_list)

    # Accounts.

    def do_login(self):
        reply = self.call("login", self.users, "POST", "/users/login",
                          {"email": self.email, "password": self.password}, check=has_tokens)
        if reply is not None and reply.status == 200 and has_tokens(reply) is None:
            self.take_tokens(reply.body)

    def do_login_wrong(self):
        now = time.monotonic()
        while self.own_failures and now - self.own_failures[0] > FAILURE_WINDOW_SECS:
            self.own_failures.popleft()
        own = len(self.own_failures) < OWN_FAILURES_MAX
        if own:
            email = self.email
        else:
            self.strangers += 1
            email = f"nobody-{self.number}-{self.strangers}-{self.world.run_tag}@example.com"
        reply = self.call("login_wrong", self.users, "POST", "/users/login",
                          {"email": email, "password": "not-the-password"})
        # Counted as failures even without an answer: the service may have recorded it.
        if own and (reply is None or reply.status == 401):
            self.own_failures.append(now)

    def do_refresh(self):
        reply = self.call("refresh", self.users, "POST", "/users/refresh",
                          {"refresh_token": self.refresh_token}, check=has_tokens)
        if reply is None:
            self.token_renew_at = 0  # the old refresh token may be spent: log in again
        elif reply.status == 200 and has_tokens(reply) is None:
            self.take_tokens(reply.body)

    # Orders.

    def do_order(self):
        lines = self.rng.choice([1, 1, 2, 2, 3])
        body = {"items": [{"product_id": pid, "quantity": self.rng.randint(1, 3)}
                          for pid in self.world.pick_products(self.rng, lines)]}
        headers = {}
        if self.rng.random() < 0.25:
            headers["Idempotency-Key"] = f"soak-{uuid.uuid4()}"

        def check(reply):
            if not isinstance(reply.body, dict) or reply.body.get("status") != "PLACED" or not reply.body.get("id"):
                return "201 without a PLACED order"
            if reply.headers.get("idempotent-replayed"):
                return "a first request answered as a replay"
            return None

        reply = self.call("order", self.orders, "POST", "/orders", body, self.token, headers, check)
        if reply is None or reply.status != 201 or not isinstance(reply.body, dict):
            return
        order_id = reply.body.get("id")
        with self.world.lock:
            self.world.placed += 1
        self.my_placed.append(order_id)
        if headers and self.rng.random() < 0.5:

            def check_replay(replay):
                if not isinstance(replay.body, dict) or replay.body.get("id") != order_id:
                    return "a replay answered with another order"
                if replay.headers.get("idempotent-replayed") != "true":
                    return "a replay without Idempotent-Replayed: true"
                return None

            self.call("order_replay", self.orders, "POST", "/orders", body, self.token, headers, check_replay)

    def do_cancel(self):
        if not self.my_placed:
            return self.do_my_orders()
        order_id = self.my_placed.pop(self.rng.randrange(len(self.my_placed)))

        def check(reply):
            if not isinstance(reply.body, dict) or reply.body.get("status") != "CANCELLED":
                return "a cancel that does not answer CANCELLED"
            return None

        reply = self.call("cancel", self.orders, "POST", f"/orders/{order_id}/cancel", token=self.token, check=check)
        if reply is not None and reply.status == 200:
            with self.world.lock:
                self.world.cancelled += 1

    def do_my_orders(self):
        query = {"limit": PAGE}
        if self.rng.random() < 0.3:
            query["status"] = "PLACED"

        def check(reply):
            if not isinstance(reply.body, list):
                return "not a JSON array"
            if any(order.get("user_id") != self.user_id for order in reply.body):
                return "another user's order in my list"
            return None

        self.call("my_orders", self.orders, "GET", "/orders?" + urllib.parse.urlencode(query), token=self.token,
                  check=check)


def is_list(reply):
    return None if isinstance(reply.body, list) else "not a JSON array"


def has_tokens(reply):
    body = reply.body
    if not isinstance(body, dict) or not body.get("access_token") or not body.get("refresh_token"):
        return "no access and refresh token"
    return None


class Sampler(threading.Thread):
    """Every `interval` seconds: each process's VmRSS, the request rate and latency since the last
    sample."""

    def __init__(self, stats, pids, interval, started):
        super().__init__(daemon=True, name="sampler")
        self.stats, self.pids, self.interval, self.started = stats, pids, interval, started
        self.rows = []
        self.done = threading.Event()

    def sample(self):
        latencies, unexpected = self.stats.take_interval()
        elapsed = time.monotonic() - self.started
        since = elapsed - (self.rows[-1]["t"] if self.rows else 0.0)
        self.rows.append({
            "t": elapsed,
            "rate": len(latencies) / since if since > 0 else 0.0,
            "p99": percentile(latencies, 0.99),
            "max": max(latencies) if latencies else None,
            "unexpected": unexpected,
            "rss": {name: rss_kib(pid) for name, pid in self.pids.items()},
        })

    def run(self):
        self.rows.append({"t": 0.0, "rate": None, "p99": None, "max": None, "unexpected": 0,
                          "rss": {name: rss_kib(pid) for name, pid in self.pids.items()}})
        while not self.done.wait(self.interval):
            self.sample()

    def stop(self):
        self.done.set()
        self.join()
        if time.monotonic() - self.started - self.rows[-1]["t"] >= 1:
            self.sample()


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def list_all(client, path, token, what):
    """Every item of a paged list, 1000 at a time; also X-Total-Count."""
    items, total, offset = [], None, 0
    while True:
        sep = "&" if "?" in path else "?"
        reply = client.send("GET", f"{path}{sep}limit=1000&offset={offset}", token=token)
        if reply.status != 200 or not isinstance(reply.body, list):
            raise RuntimeError(f"{what}: {reply.status} {reply.error_code} {reply.detail}")
        total = int(reply.headers.get("x-total-count", "-1"))
        items.extend(reply.body)
        offset += len(reply.body)
        if not reply.body or offset >= total:
            return items, total


def check_invariant(world, admin_email, admin_password):
    """For every product: initial stock = current stock + units in orders that are not
    CANCELLED; and the orders listed are the orders the users were told were placed. Orders cut
    off when traffic stopped finish on the server, so a mismatch is looked at again a few times."""
    users = Client("user-service", world.args.users, "10.255.0.2")
    products = Client("product-service", world.args.products, "10.255.0.2")
    orders = Client("order-service", world.args.orders, "10.255.0.2")
    reply = users.send("POST", "/users/login", {"email": admin_email, "password": admin_password})
    token = must(reply, 200, "admin login")["access_token"]
    lines = []
    for attempt in range(1, 11):
        listed, _ = list_all(products, f"/products?seller_id={world.seller_id}", None, "products")
        stock = {product["id"]: product["stock"] for product in listed}
        all_orders, total = list_all(orders, "/orders", token, "orders")
        held = collections.Counter()
        statuses = collections.Counter(order["status"] for order in all_orders)
        for order in all_orders:
            if order["status"] != "CANCELLED":
                for item in order["items"]:
                    held[item["product_id"]] += item["quantity"]
        wrong = [pid for pid, initial in world.initial_stock.items()
                 if stock.get(pid) is None or initial != stock[pid] + held[pid]]
        units = sum(held.values())
        lines = [
            f"products checked: {len(world.initial_stock)} (listed {len(stock)})",
            f"orders counted: {len(all_orders)} (X-Total-Count {total}; "
            + ", ".join(f"{status} {count}" for status, count in sorted(statuses.items())) + ")",
            f"orders the users were told were placed: {world.placed}, cancelled: {world.cancelled}",
            f"units held by orders not cancelled: {units}; units taken from stock: "
            f"{sum(world.initial_stock[pid] - stock.get(pid, 0) for pid in world.initial_stock)}",
        ]
        agree = (not wrong and len(all_orders) == total == world.placed
                 and statuses.get("CANCELLED", 0) >= world.cancelled)
        if agree:
            lines.append(f"PASS (at attempt {attempt})")
            return True, lines
        detail = f"{len(wrong)} products disagree" + (
            f", e.g. {wrong[0]}: initial {world.initial_stock[wrong[0]]}, now {stock.get(wrong[0])}, "
            f"held {held[wrong[0]]}" if wrong else "")
        print(f"invariant attempt {attempt}: {detail}; orders {len(all_orders)}/{total}/{world.placed}", flush=True)
        time.sleep(2)
    lines.append("FAIL")
    return False, lines


def log_lines(files):
    """Per service: lines at ERROR and WARN level in its JSON log, and the first error lines."""
    found = {}
    for name, path in files.items():
        levels, first = collections.Counter(), []
        try:
            with open(path, errors="replace") as log:
                for line in log:
                    try:
                        level = str(json.loads(line).get("level", "")).upper()
                    except ValueError:
                        level = "ERROR" if "panicked" in line else "OTHER"
                    levels[level] += 1
                    if level == "ERROR" and len(first) < 3:
                        first.append(line.strip()[:300])
        except OSError:
            pass
        found[name] = (levels, first)
    return found


def fmt_ms(seconds):
    return "-" if seconds is None else f"{seconds * 1000:.1f}"


def fmt_mib(kib):
    return "-" if kib is None else f"{kib / 1024:.1f}"


def report(world, stats, sampler, pids, logs, duration, invariant_ok, invariant_lines):
    kinds = [kind for kind in KINDS if kind in stats.latencies or any(k == kind for k, *_ in stats.outcomes)]
    by_kind = collections.defaultdict(collections.Counter)
    for (kind, outcome, code, expected), count in stats.outcomes.items():
        row = by_kind[kind]
        row["total"] += count
        if isinstance(outcome, int):
            row[f"{outcome // 100}xx"] += count
        else:
            row["err"] += count
        if not expected:
            row["unexpected"] += count
    total = sum(row["total"] for row in by_kind.values())

    print("\n== Unexpected outcomes ==")
    if stats.unexpected == 0:
        print("none")
    else:
        for (kind, outcome, code, expected), count in sorted(stats.outcomes.items(), key=str):
            if not expected:
                print(f"  {kind:<13} {outcome!s:<28} {code:<22} {count}")
        print("first ones (UTC time, kind, outcome, code, detail, request id):")
        for sample in stats.samples:
            print(f"  {sample}")

    print("\n== Outcomes by kind, status and error code ==")
    for (kind, outcome, code, expected), count in sorted(
            stats.outcomes.items(), key=lambda item: (KINDS.index(item[0][0]), str(item[0][1]), item[0][2])):
        print(f"  {kind:<13} {outcome!s:<28} {code or '-':<22} {count:>8}  {'expected' if expected else 'UNEXPECTED'}")

    print("\n== Over time (every sample: request rate, latency and unexpected outcomes since the last; RSS MiB) ==")
    names = list(pids)
    print(f"  {'t (s)':>6} {'req/s':>7} {'p99 ms':>7} {'max ms':>7} {'unexp':>5}  " + " ".join(f"{n:>15}" for n in names))
    for row in sampler.rows:
        rate = "-" if row["rate"] is None else f"{row['rate']:.0f}"
        print(f"  {row['t']:>6.0f} {rate:>7} {fmt_ms(row['p99']):>7} {fmt_ms(row['max']):>7} {row['unexpected']:>5}  "
              + " ".join(f"{fmt_mib(row['rss'][n]):>15}" for n in names))

    rss_lines = []
    for name in names:
        values = [row["rss"][name] for row in sampler.rows if row["rss"][name] is not None]
        if not values:
            continue
        # Growth after warm-up: from the sample at about a tenth of the run to the last one.
        warm = values[min(len(values) - 1, max(1, len(values) // 10))]
        growth = values[-1] - warm
        rss_lines.append(f"  {name:<16} {fmt_mib(values[0]):>8} {fmt_mib(values[-1]):>8} {fmt_mib(max(values)):>8}"
                         f"   {growth / 1024:+.1f} MiB ({100 * growth / warm:+.0f}%) since {fmt_mib(warm)}")

    print("\n== Kept-alive connections the server closed between requests (found before reuse, replaced) ==")
    if not stats.closed_by_server:
        print("none")
    for (service, kind, status), count in sorted(stats.closed_by_server.items(), key=str):
        print(f"  {service:<16} after {kind} {status}: {count}")

    print("\n== Service logs ==")
    for name, (levels, first) in logs.items():
        print(f"  {name:<16} ERROR {levels.get('ERROR', 0)}, WARN {levels.get('WARN', 0)}")
        for line in first:
            print(f"    {line}")
    alive = [name for name, pid in pids.items() if rss_kib(pid) is not None]
    down = [name for name in pids if name not in alive]

    print("\n== Stock invariant ==")
    for line in invariant_lines:
        print(f"  {line}")

    expected_refusals = collections.Counter()
    for (kind, outcome, code, expected), count in stats.outcomes.items():
        if expected and isinstance(outcome, int) and outcome >= 400:
            expected_refusals[f"{outcome} {code}"] += count
    ok = stats.unexpected == 0 and invariant_ok and not down

    print("\n== Summary ==")
    print(f"Soak: {duration / 60:.1f} min of mixed traffic, {world.args.vus} virtual users (think time "
          f"{world.args.think_ms[0]:g}-{world.args.think_ms[1]:g} ms), {len(world.product_ids)} products, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs")
    print(f"Requests: {total} ({total / duration:.0f}/s); unexpected: {stats.unexpected}; expected refusals: "
          + (", ".join(f"{key} {count}" for key, count in sorted(expected_refusals.items())) or "none"))
    print(f"  {'kind':<13} {'requests':>8} {'2xx':>7} {'4xx':>6} {'5xx':>4} {'err':>4} {'unexp':>5} {'p50 ms':>7} {'p99 ms':>7}")
    for kind in kinds:
        row = by_kind[kind]
        print(f"  {kind:<13} {row['total']:>8} {row['2xx']:>7} {row['4xx']:>6} {row['5xx']:>4} {row['err']:>4} "
              f"{row['unexpected']:>5} {fmt_ms(percentile(stats.latencies[kind], 0.5)):>7} "
              f"{fmt_ms(percentile(stats.latencies[kind], 0.99)):>7}")
    every = [value for values in stats.latencies.values() for value in values]
    print(f"  {'all':<13} {total:>8} {'':>7} {'':>6} {'':>4} {'':>4} {stats.unexpected:>5} "
          f"{fmt_ms(percentile(every, 0.5)):>7} {fmt_ms(percentile(every, 0.99)):>7}")
    print(f"RSS (MiB, sampled every {sampler.interval:g} s):")
    print(f"  {'process':<16} {'first':>8} {'last':>8} {'max':>8}   growth after warm-up")
    for line in rss_lines:
        print(line)
    closed = collections.Counter()
    for (service, kind, status), count in stats.closed_by_server.items():
        closed[f"{service} after {status}"] += count
    print(f"Kept-alive connections closed by a service between requests (replaced before reuse): "
          f"{sum(closed.values())}" + (f" ({', '.join(f'{k}: {v}' for k, v in sorted(closed.items()))})" if closed else ""))
    errors = sum(levels.get("ERROR", 0) for levels, _ in logs.values())
    print(f"Service log lines at ERROR: {errors}; services running at the end: "
          + (", ".join(alive) if not down else f"{', '.join(alive) or 'none'} (DOWN: {', '.join(down)})"))
    print("Stock invariant: " + ("PASS" if invariant_ok else "FAIL") + " — " + "; ".join(invariant_lines[:2]))
    print("Result: " + ("PASS" if ok else "FAIL"))
    return ok


def parse_pairs(values, what):
    pairs = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name or not rest:
            sys.exit(f"--{what} wants NAME=VALUE, not {value!r}")
        pairs[name] = rest
    return pairs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", required=True)
    parser.add_argument("--products", required=True)
    parser.add_argument("--orders", required=True)
    parser.add_argument("--admin", required=True, help="EMAIL:PASSWORD of the admin account")
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--vus", type=int, default=16)
    parser.add_argument("--catalog", type=int, default=300, help="products to seed")
    parser.add_argument("--think-ms", default="20-80", help="pause between a user's actions, LOW-HIGH")
    parser.add_argument("--pid", action="append", default=[], help="NAME=PID of a process whose RSS to sample")
    parser.add_argument("--log", action="append", default=[], help="NAME=FILE of a service's JSON log")
    args = parser.parse_args()
    low, _, high = args.think_ms.partition("-")
    args.think_ms = (float(low), float(high or low))
    pids = {name: int(pid) for name, pid in parse_pairs(args.pid, "pid").items()}
    admin_email, _, admin_password = args.admin.partition(":")

    stats = Stats()
    world = World(args, stats)
    print(f"Seeding {args.catalog} products and {args.vus} users…", flush=True)
    world.seed_catalog(args.catalog)
    duration = args.minutes * 60
    deadline = time.monotonic() + duration
    users = [VirtualUser(world, number, deadline) for number in range(args.vus)]
    for user in users:
        user.sign_up()

    interval = min(30.0, max(10.0, duration / 40))
    print(f"Traffic for {args.minutes:g} min; sampling RSS every {interval:g} s…", flush=True)
    started = time.monotonic()
    deadline = started + duration
    sampler = Sampler(stats, pids, interval, started)
    sampler.start()
    for user in users:
        user.deadline = deadline
        user.start()
    for user in users:
        user.join()
    elapsed = time.monotonic() - started
    sampler.stop()

    print("Traffic stopped; checking the stock invariant…", flush=True)
    time.sleep(3)
    try:
        invariant_ok, invariant_lines = check_invariant(world, admin_email, admin_password)
    except (RuntimeError, TransportError, OSError) as err:
        invariant_ok, invariant_lines = False, [f"could not be checked: {err}", "FAIL"]
    logs = log_lines(parse_pairs(args.log, "log"))
    ok = report(world, stats, sampler, pids, logs, elapsed, invariant_ok, invariant_lines)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
