"""The soak's traffic (scripts/soak.sh) for locust: shoppers against the three services for a while,
then a check that no stock was lost or invented, and a report. Exits 1 on any unexpected outcome or
a broken invariant.

    locust -f locustfile.py --headless --users 16 --spawn-rate 16 --run-time 600s --stop-timeout 30
           --user-service URL --product-service URL --order-service URL --admin EMAIL:PASSWORD
           [--think-ms 20-80] [--pid NAME=PID ...] [--log NAME=FILE ...]

Before the traffic, a seller seeds a catalog through the API (300 products in 6 categories, one in
ten with little stock) and one account is signed up per shopper. Each shopper has its own client
address (X-Forwarded-For, which the user service is told to trust), account and keep-alive
connections, and repeats a weighted mix with a short random pause between actions: browse a page
of the catalog (paging, category, sort, filters), search, read one product, read the categories,
log in (sometimes with a wrong password), refresh its tokens, place an order of 1-3 lines
(sometimes with an Idempotency-Key, sometimes replayed), cancel one of its orders, list its orders.
The RSS of every process named with --pid is sampled all along.

Expected refusals are counted apart from errors: 409 INSUFFICIENT_STOCK on an order, 401
INVALID_CREDENTIALS on a wrong password, and 429 RATE_LIMITED (with Retry-After) on the login and
refresh routes, after which the shopper sends neither before Retry-After has passed. Anything else
is unexpected, and a failure in locust's figures: a 5xx, a socket error or timeout, any other
status, a 429 without Retry-After or again right after waiting it out, or a 2xx whose body breaks
the contract (a replay with another order id, a cancel that does not answer CANCELLED, ...).

At the end, as the admin: for every product, initial stock = current stock + units in orders that
are not CANCELLED, and the orders listed are those the shoppers were told were placed.
"""

import collections
import itertools
import json
import os
import random
import secrets
import time
import urllib.parse
import uuid

import gevent
import requests
from locust import User, events, task
from locust.clients import HttpSession

# A server may close a kept-alive connection between requests (after HEADER_READ_TIMEOUT_SECS of
# idleness, 10 s by default): a request sent just then would fail for no fault of the service, so
# a connection idle for longer than this is replaced first. Any socket error left is a real one.
IDLE_RECONNECT_SECS = 5.0
REQUEST_TIMEOUT_SECS = 15.0
PAGE = 20
# Failed logins per email allowed within 15 minutes before the account is locked (429
# TOO_MANY_ATTEMPTS). A shopper mistypes its own password at most one less than that; further wrong
# passwords go to addresses that have no account (still 401, as the contract makes them alike).
OWN_FAILURES_MAX = 4
FAILURE_WINDOW_SECS = 15 * 60

KINDS = ["browse", "search", "product", "categories", "login", "login_wrong", "refresh",
         "order", "order_replay", "cancel", "my_orders"]
AUTH_KINDS = {"login", "login_wrong", "refresh"}
SUCCESS = {"browse": 200, "search": 200, "product": 200, "categories": 200, "login": 200, "refresh": 200,
           "order": 201, "order_replay": 201, "cancel": 200, "my_orders": 200}
# Refusals that are a correct answer to what the shopper did: (kind, status, error_code).
EXPECTED_REFUSALS = {("order", 409, "INSUFFICIENT_STOCK"), ("login_wrong", 401, "INVALID_CREDENTIALS")} | {
    (kind, 429, "RATE_LIMITED") for kind in AUTH_KINDS}

CATEGORIES = ["Books", "Garden", "Kitchen", "Outdoor", "Toys", "Music"]
ADJECTIVES = ["red", "blue", "green", "small", "large", "vintage", "smart", "quiet", "rapid", "solid"]
NOUNS = ["lamp", "chair", "kettle", "tent", "guitar", "drone", "novel", "shovel", "puzzle", "mug"]
# Searches: whole words, fragments, and characters that must be taken literally.
SEARCHES = ADJECTIVES + NOUNS + ["ee", "tar", "sma", "(", ".*", "a\\b", "lamp 1", "zzz"]
SORTS = [None, "created_at", "-created_at", "price", "-price", "name"]


@events.init_command_line_parser.add_listener
def add_arguments(parser):
    parser.add_argument("--user-service", required=True, help="base URL of the user service")
    parser.add_argument("--product-service", required=True, help="base URL of the product service")
    parser.add_argument("--order-service", required=True, help="base URL of the order service")
    parser.add_argument("--admin", required=True, help="EMAIL:PASSWORD of the admin account")
    parser.add_argument("--catalog", type=int, default=300, help="products to seed")
    parser.add_argument("--think-ms", default="20-80", help="pause between a shopper's actions, LOW-HIGH")
    parser.add_argument("--pid", action="append", default=[], help="NAME=PID of a process whose RSS to sample")
    parser.add_argument("--log", action="append", default=[], help="NAME=FILE of a service's JSON log")


class Run:
    """What the shoppers share: the catalog, their accounts and the run's figures."""

    def __init__(self):
        self.tag = secrets.token_hex(4)
        self.options = None
        self.think_ms = (20.0, 80.0)
        self.pids, self.logs = {}, {}
        self.seller_id = None
        self.product_ids = []  # in creation order: the first ones are the popular ones
        self.initial_stock = {}
        self.accounts = []
        self.numbers = itertools.count()
        self.placed = 0  # orders answered 201 and not replayed
        self.cancelled = 0
        self.outcomes = collections.Counter()  # (kind, outcome, error_code, expected) -> count
        self.samples = []  # the first unexpected outcomes
        self.unexpected = 0
        self.closed_by_server = collections.Counter()  # (service, kind, status before) -> count
        self.rows = []  # the samples over time
        self.started = None
        self.elapsed = 0.0
        self.interval = 30.0
        self.sampler = None
        self.latency = {}  # kind (and "all") -> (p50, p99) in ms, from locust's figures
        self.levels = {}
        self.down = []
        self.ok = False
        self.invariant_lines = []

    def record(self, kind, outcome, code, expected, note="", request_id=""):
        self.outcomes[(kind, outcome, code, expected)] += 1
        if not expected:
            self.unexpected += 1
            if len(self.samples) < 25:
                stamp = time.strftime("%H:%M:%S", time.gmtime())
                self.samples.append(f"{stamp} {kind} {outcome} {code} {note} {request_id}".rstrip())


RUN = Run()


def client(address):
    """A plain session for the setup and the final check, outside locust's figures."""
    session = requests.Session()
    session.headers.update({"X-Forwarded-For": address, "Accept": "application/json"})
    return session


def must(response, status, what):
    """Setup steps must succeed; anything else stops the run."""
    if response.status_code != status:
        raise SystemExit(f"setup: {what} answered {response.status_code}: {response.text[:200]}")
    return response.json()


def address_of(number):
    return f"10.77.{number // 250}.{number % 250 + 1}"


@events.init.add_listener
def seed(environment, **_):
    """A seller with a catalog, and one account per shopper, before the clock starts."""
    options = RUN.options = environment.parsed_options
    if options is None:  # not a run (e.g. --help)
        return
    low, _, high = options.think_ms.partition("-")
    RUN.think_ms = (float(low), float(high or low))
    RUN.pids = {name: int(pid) for name, pid in pairs(options.pid, "pid").items()}
    RUN.logs = pairs(options.log, "log")
    print(f"Seeding {options.catalog} products and {options.num_users} users…", flush=True)
    rng = random.Random(7)
    session = client("10.255.0.1")
    email, password = f"soak-seller-{RUN.tag}@example.com", secrets.token_urlsafe(16)
    RUN.seller_id = must(session.post(f"{options.user_service}/users/register",
                                      json={"email": email, "password": password, "role": "seller"}),
                         200, "register seller")["id"]
    token = must(session.post(f"{options.user_service}/users/login", json={"email": email, "password": password}),
                 200, "seller login")["access_token"]
    for i in range(options.catalog):
        stock = rng.randint(5, 30) if i % 10 == 3 else rng.randint(500, 3000)
        product = {"name": f"{rng.choice(ADJECTIVES).title()} {rng.choice(NOUNS)} {i}",
                   "description": "Soak test product", "price": round(rng.uniform(1, 500), 2),
                   "category": CATEGORIES[i % len(CATEGORIES)], "stock": stock}
        created = must(session.post(f"{options.product_service}/products", json=product,
                                    headers={"Authorization": f"Bearer {token}"}), 201, "create product")
        RUN.product_ids.append(created["id"])
        RUN.initial_stock[created["id"]] = stock
    for number in range(options.num_users):
        session = client(address_of(number))
        email, password = f"soak-vu{number}-{RUN.tag}@example.com", secrets.token_urlsafe(12)
        user_id = must(session.post(f"{options.user_service}/users/register",
                                    json={"email": email, "password": password}), 200, "register buyer")["id"]
        tokens = must(session.post(f"{options.user_service}/users/login", json={"email": email, "password": password}),
                      200, "buyer login")
        RUN.accounts.append((email, password, user_id, tokens))


def pairs(values, what):
    found = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name or not rest:
            raise SystemExit(f"--{what} wants NAME=VALUE, not {value!r}")
        found[name] = rest
    return found


class Service:
    """One service as a shopper reaches it: a locust HttpSession, kept alive, from its own address."""

    def __init__(self, name, url, address, user):
        self.name = name
        self.url = url
        self.session = HttpSession(url, request_event=user.environment.events.request, user=user)
        self.session.headers.update({"X-Forwarded-For": address, "Accept": "application/json"})
        self.last_used = 0.0
        self.last_reply = None  # (kind, status) of the last answer on this session

    def before_request(self):
        """Replaces a connection idle too long; counts the ones the server closed meanwhile (urllib3
        replaces those by itself), by the answer that came before."""
        if time.monotonic() - self.last_used > IDLE_RECONNECT_SECS:
            self.session.close()
            return
        pools = self.session.get_adapter(self.url).poolmanager.pools  # one: the session has one host
        closed = sum(1 for key in pools.keys() for conn in list(pools[key].pool.queue)
                     if conn is not None and conn.sock is not None and not conn.is_connected)
        if closed:
            RUN.closed_by_server[(self.name, *(self.last_reply or ("-", "-")))] += closed

    def after_request(self, kind, status):
        self.last_used = time.monotonic()
        self.last_reply = (kind, status)


def body_of(response):
    try:
        return response.json() if response.content else None
    except ValueError:
        return None


class Shopper(User):
    """One shopper with its own address, account and connections."""

    def wait_time(self):
        low, high = RUN.think_ms
        return self.rng.uniform(low, high) / 1000

    def on_start(self):
        self.number = next(RUN.numbers)
        self.rng = random.Random(self.number * 7919 + 1)
        self.email, self.password, self.user_id, tokens = RUN.accounts[self.number]
        self.take_tokens(tokens)
        address = address_of(self.number)
        self.users = Service("user-service", RUN.options.user_service, address, self)
        self.products = Service("product-service", RUN.options.product_service, address, self)
        self.orders = Service("order-service", RUN.options.order_service, address, self)
        self.auth_not_before = 0.0  # Retry-After of the last 429 of the rate-limited routes
        self.waited_out = False  # the next auth request follows a 429 that was waited out
        self.own_failures = collections.deque()
        self.strangers = 0
        self.my_placed = []  # own orders still PLACED

    def take_tokens(self, body):
        self.token = body["access_token"]
        self.refresh_token = body["refresh_token"]
        self.token_renew_at = time.monotonic() + max(60, int(body.get("expires_in", 1800)) - 120)

    def auth_allowed(self):
        return time.monotonic() >= self.auth_not_before

    def call(self, kind, service, method, path, body=None, token=None, headers=None, check=None):
        """Sends one request and records its outcome; returns (status, body, headers), or None when no
        answer came. `check(body, headers)` may name what is wrong with a successful answer."""
        if kind in AUTH_KINDS:
            waited_out, self.waited_out = self.waited_out, False
        all_headers = dict(headers or {})
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        service.before_request()
        with service.session.request(method, path, name=kind, json=body, headers=all_headers,
                                     timeout=REQUEST_TIMEOUT_SECS, catch_response=True) as response:
            status = response.status_code
            service.after_request(kind, status)
            if status == 0:
                service.session.close()
                error = response.error
                outcome = "timeout" if isinstance(error, requests.Timeout) else f"socket error ({type(error).__name__})"
                RUN.record(kind, outcome, "", False)
                response.failure(outcome)
                return None
            answer = body_of(response)
            code = answer.get("error_code", "") if isinstance(answer, dict) else ""
            replied = {name.lower(): value for name, value in response.headers.items()}
            note = ""
            if status == SUCCESS.get(kind):
                note = (check(answer, replied) or "") if check else ""
                expected = not note
            else:
                expected = (kind, status, code) in EXPECTED_REFUSALS
                note = str(answer.get("detail", ""))[:200] if isinstance(answer, dict) else response.text[:200]
                if status == 429:
                    value = replied.get("retry-after", "")
                    if not (value.isdigit() and int(value) > 0):
                        expected, note = False, "429 without a valid Retry-After"
                    elif kind in AUTH_KINDS:
                        if waited_out:
                            expected, note = False, f"429 again after waiting out Retry-After ({value} s)"
                        self.auth_not_before = time.monotonic() + int(value)
                        self.waited_out = True
            RUN.record(kind, status, code, expected, note, replied.get("x-request-id", ""))
            if expected:
                response.success()
            else:
                response.failure(f"{status} {code} {note}".strip())
        return status, answer, replied

    def renew_token_if_due(self):
        if time.monotonic() > self.token_renew_at and self.auth_allowed():
            self.login()

    # Catalog.

    @task(300)
    def browse(self):
        query = {"limit": PAGE, "offset": self.rng.randrange(0, len(RUN.product_ids) + PAGE, PAGE)}
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

    @task(150)
    def search(self):
        query = {"q": self.rng.choice(SEARCHES), "limit": PAGE}
        if self.rng.random() < 0.3:
            query["sort"] = "price"
        self.call("search", self.products, "GET", "/products?" + urllib.parse.urlencode(query), check=is_list)

    @task(200)
    def product(self):
        product_id = self.rng.choice(RUN.product_ids)

        def check(body, _):
            return None if isinstance(body, dict) and body.get("id") == product_id else "another product than asked for"

        self.call("product", self.products, "GET", f"/products/{product_id}", check=check)

    @task(50)
    def categories(self):
        self.call("categories", self.products, "GET", "/categories", check=is_list)

    # Accounts.

    @task(6)
    def login(self):
        if not self.auth_allowed():
            return self.browse()  # obeying Retry-After: something else meanwhile
        reply = self.call("login", self.users, "POST", "/users/login",
                          {"email": self.email, "password": self.password}, check=has_tokens)
        if reply and reply[0] == 200 and has_tokens(reply[1], None) is None:
            self.take_tokens(reply[1])

    @task(2)
    def login_wrong(self):
        if not self.auth_allowed():
            return self.browse()
        now = time.monotonic()
        while self.own_failures and now - self.own_failures[0] > FAILURE_WINDOW_SECS:
            self.own_failures.popleft()
        own = len(self.own_failures) < OWN_FAILURES_MAX
        if own:
            email = self.email
        else:
            self.strangers += 1
            email = f"nobody-{self.number}-{self.strangers}-{RUN.tag}@example.com"
        reply = self.call("login_wrong", self.users, "POST", "/users/login",
                          {"email": email, "password": "not-the-password"})
        # Counted as a failure even without an answer: the service may have recorded it.
        if own and (reply is None or reply[0] == 401):
            self.own_failures.append(now)

    @task(15)
    def refresh(self):
        if not self.auth_allowed():
            return self.browse()
        reply = self.call("refresh", self.users, "POST", "/users/refresh",
                          {"refresh_token": self.refresh_token}, check=has_tokens)
        if reply is None:
            self.token_renew_at = 0  # the old refresh token may be spent: log in again
        elif reply[0] == 200 and has_tokens(reply[1], None) is None:
            self.take_tokens(reply[1])

    # Orders.

    @task(150)
    def order(self):
        self.renew_token_if_due()
        lines = self.rng.choice([1, 1, 2, 2, 3])
        chosen = set()
        while len(chosen) < lines:  # the first products of the catalog far more often than the last
            chosen.add(RUN.product_ids[int(len(RUN.product_ids) * self.rng.random() ** 2)])
        body = {"items": [{"product_id": pid, "quantity": self.rng.randint(1, 3)} for pid in chosen]}
        headers = {"Idempotency-Key": f"soak-{uuid.uuid4()}"} if self.rng.random() < 0.25 else {}

        def check(answer, replied):
            if not isinstance(answer, dict) or answer.get("status") != "PLACED" or not answer.get("id"):
                return "201 without a PLACED order"
            return "a first request answered as a replay" if replied.get("idempotent-replayed") else None

        reply = self.call("order", self.orders, "POST", "/orders", body, self.token, headers, check)
        if reply is None or reply[0] != 201 or not isinstance(reply[1], dict):
            return
        order_id = reply[1].get("id")
        RUN.placed += 1
        self.my_placed.append(order_id)
        if headers and self.rng.random() < 0.5:

            def check_replay(answer, replied):
                if not isinstance(answer, dict) or answer.get("id") != order_id:
                    return "a replay answered with another order"
                return None if replied.get("idempotent-replayed") == "true" else "a replay without Idempotent-Replayed: true"

            self.call("order_replay", self.orders, "POST", "/orders", body, self.token, headers, check_replay)

    @task(50)
    def cancel(self):
        if not self.my_placed:
            return self.my_orders()
        self.renew_token_if_due()
        order_id = self.my_placed.pop(self.rng.randrange(len(self.my_placed)))

        def check(answer, _):
            ok = isinstance(answer, dict) and answer.get("status") == "CANCELLED"
            return None if ok else "a cancel that does not answer CANCELLED"

        reply = self.call("cancel", self.orders, "POST", f"/orders/{order_id}/cancel", token=self.token, check=check)
        if reply is not None and reply[0] == 200:
            RUN.cancelled += 1

    @task(80)
    def my_orders(self):
        self.renew_token_if_due()
        query = {"limit": PAGE}
        if self.rng.random() < 0.3:
            query["status"] = "PLACED"

        def check(answer, _):
            if not isinstance(answer, list):
                return "not a JSON array"
            return "another user's order in my list" if any(o.get("user_id") != self.user_id for o in answer) else None

        self.call("my_orders", self.orders, "GET", "/orders?" + urllib.parse.urlencode(query), token=self.token, check=check)


def is_list(body, _):
    return None if isinstance(body, list) else "not a JSON array"


def has_tokens(body, _):
    ok = isinstance(body, dict) and body.get("access_token") and body.get("refresh_token")
    return None if ok else "no access and refresh token"


# Over time.


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def take_sample():
    elapsed = time.monotonic() - RUN.started
    requests_so_far = sum(RUN.outcomes.values())
    previous = RUN.rows[-1] if RUN.rows else {"t": 0.0, "requests": 0, "unexpected": 0}
    since = elapsed - previous["t"]
    row = {"t": elapsed, "requests": requests_so_far, "unexpected": RUN.unexpected,
           "rate": (requests_so_far - previous["requests"]) / since if since > 0 else None,
           "new_unexpected": RUN.unexpected - previous["unexpected"],
           "rss": {name: rss_kib(pid) for name, pid in RUN.pids.items()}}
    RUN.rows.append(row)
    return row


def sample_every(interval):
    while True:
        gevent.sleep(interval)
        row = take_sample()
        print(f"  {row['t']:>6.0f} s {row['rate']:>5.0f} req/s, unexpected {row['new_unexpected']}; RSS MiB "
              + ", ".join(f"{name} {fmt_mib(kib)}" for name, kib in row["rss"].items()), flush=True)


@events.test_start.add_listener
def start_sampling(environment, **_):
    duration = environment.parsed_options.run_time or 600
    RUN.interval = min(30.0, max(10.0, duration / 40))
    print(f"Traffic for {duration / 60:g} min; sampling RSS every {RUN.interval:g} s…", flush=True)
    RUN.started = time.monotonic()
    RUN.rows.append({"t": 0.0, "requests": 0, "unexpected": 0, "rate": None, "new_unexpected": 0,
                     "rss": {name: rss_kib(pid) for name, pid in RUN.pids.items()}})
    RUN.sampler = gevent.spawn(sample_every, RUN.interval)


# The end.


def list_all(session, url, token, what):
    """Every item of a paged list, 1000 at a time; also X-Total-Count."""
    items, total, offset = [], None, 0
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    while True:
        sep = "&" if "?" in url else "?"
        response = session.get(f"{url}{sep}limit=1000&offset={offset}", headers=headers, timeout=30)
        body = body_of(response)
        if response.status_code != 200 or not isinstance(body, list):
            raise RuntimeError(f"{what}: {response.status_code} {response.text[:200]}")
        total = int(response.headers.get("x-total-count", "-1"))
        items.extend(body)
        offset += len(body)
        if not body or offset >= total:
            return items, total


def check_invariant():
    """Orders cut off when traffic stopped finish on the server, so a mismatch is looked at again a
    few times."""
    options = RUN.options
    session = client("10.255.0.2")
    admin_email, _, admin_password = options.admin.partition(":")
    token = must(session.post(f"{options.user_service}/users/login",
                              json={"email": admin_email, "password": admin_password}), 200, "admin login")["access_token"]
    lines = []
    for attempt in range(1, 11):
        listed, _ = list_all(session, f"{options.product_service}/products?seller_id={RUN.seller_id}", None, "products")
        stock = {product["id"]: product["stock"] for product in listed}
        orders, total = list_all(session, f"{options.order_service}/orders", token, "orders")
        held = collections.Counter()
        statuses = collections.Counter(order["status"] for order in orders)
        for order in orders:
            if order["status"] != "CANCELLED":
                for item in order["items"]:
                    held[item["product_id"]] += item["quantity"]
        wrong = [pid for pid, initial in RUN.initial_stock.items()
                 if stock.get(pid) is None or initial != stock[pid] + held[pid]]
        taken = sum(initial - stock.get(pid, 0) for pid, initial in RUN.initial_stock.items())
        lines = [
            f"products checked: {len(RUN.initial_stock)} (listed {len(stock)})",
            f"orders counted: {len(orders)} (X-Total-Count {total}; "
            + ", ".join(f"{status} {count}" for status, count in sorted(statuses.items())) + ")",
            f"orders the users were told were placed: {RUN.placed}, cancelled: {RUN.cancelled}",
            f"units held by orders not cancelled: {sum(held.values())}; units taken from stock: {taken}",
        ]
        if not wrong and len(orders) == total == RUN.placed and statuses.get("CANCELLED", 0) >= RUN.cancelled:
            return True, lines + [f"PASS (at attempt {attempt})"]
        detail = f"{len(wrong)} products disagree" + (
            f", e.g. {wrong[0]}: initial {RUN.initial_stock[wrong[0]]}, now {stock.get(wrong[0])}, held {held[wrong[0]]}"
            if wrong else "")
        print(f"invariant attempt {attempt}: {detail}; orders {len(orders)}/{total}/{RUN.placed}", flush=True)
        time.sleep(2)
    return False, lines + ["FAIL"]


def log_levels():
    """Per service: lines at each level in its JSON log, and the first error lines."""
    found = {}
    for name, path in RUN.logs.items():
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


@events.quitting.add_listener
def finish(environment, **_):
    """After the traffic (or a Ctrl-C): the last sample, the invariant, and the exit status."""
    if RUN.started is None:
        return
    environment.runner.stop()  # already stopped at the end of --run-time; not after a Ctrl-C
    RUN.elapsed = time.monotonic() - RUN.started
    RUN.sampler.kill()
    if RUN.elapsed - RUN.rows[-1]["t"] >= 1:
        take_sample()
    print("Traffic stopped; checking the stock invariant…", flush=True)
    time.sleep(3)
    try:
        invariant_ok, RUN.invariant_lines = check_invariant()
    except (RuntimeError, requests.RequestException, SystemExit) as err:
        invariant_ok, RUN.invariant_lines = False, [f"could not be checked: {err}", "FAIL"]
    # Read before locust writes its figures out (--json-file), which clears them.
    stats = environment.stats
    RUN.latency = {name: (entry.get_response_time_percentile(0.5), entry.get_response_time_percentile(0.99))
                   for (name, _), entry in stats.entries.items()}
    RUN.latency["all"] = (stats.total.get_response_time_percentile(0.5), stats.total.get_response_time_percentile(0.99))
    RUN.levels = log_levels()
    RUN.down = [name for name, pid in RUN.pids.items() if rss_kib(pid) is None]
    RUN.ok = RUN.unexpected == 0 and invariant_ok and not RUN.down
    environment.process_exit_code = 0 if RUN.ok else 1


def fmt_ms(value):
    """Locust keeps response times in whole milliseconds (to two significant digits above 100)."""
    return "-" if value is None else f"{value:.0f}"


def fmt_mib(kib):
    return "-" if kib is None else f"{kib / 1024:.1f}"


@events.quit.add_listener
def report(**_):
    """The report, last of all that the run prints."""
    if RUN.started is None:
        return
    by_kind = collections.defaultdict(collections.Counter)
    for (kind, outcome, code, expected), count in RUN.outcomes.items():
        row = by_kind[kind]
        row["total"] += count
        row[f"{outcome // 100}xx" if isinstance(outcome, int) else "err"] += count
        if not expected:
            row["unexpected"] += count
    total = sum(RUN.outcomes.values())
    duration = max(RUN.elapsed, 1e-9)

    print("\n== Unexpected outcomes ==")
    if RUN.unexpected == 0:
        print("none")
    else:
        for (kind, outcome, code, expected), count in sorted(RUN.outcomes.items(), key=str):
            if not expected:
                print(f"  {kind:<13} {outcome!s:<28} {code:<22} {count}")
        print("first ones (UTC time, kind, outcome, code, detail, request id):")
        for sample in RUN.samples:
            print(f"  {sample}")

    print("\n== Outcomes by kind, status and error code ==")
    for (kind, outcome, code, expected), count in sorted(
            RUN.outcomes.items(), key=lambda item: (KINDS.index(item[0][0]), str(item[0][1]), item[0][2])):
        print(f"  {kind:<13} {outcome!s:<28} {code or '-':<22} {count:>8}  {'expected' if expected else 'UNEXPECTED'}")

    names = list(RUN.pids)
    print("\n== Over time (every sample: request rate and unexpected outcomes since the last; RSS MiB) ==")
    print(f"  {'t (s)':>6} {'req/s':>7} {'unexp':>5}  " + " ".join(f"{n:>15}" for n in names))
    for row in RUN.rows:
        rate = "-" if row["rate"] is None else f"{row['rate']:.0f}"
        print(f"  {row['t']:>6.0f} {rate:>7} {row['new_unexpected']:>5}  "
              + " ".join(f"{fmt_mib(row['rss'][n]):>15}" for n in names))

    print("\n== Kept-alive connections the server closed between requests (found before reuse, replaced) ==")
    if not RUN.closed_by_server:
        print("none")
    for (service, kind, status), count in sorted(RUN.closed_by_server.items(), key=str):
        print(f"  {service:<16} after {kind} {status}: {count}")

    print("\n== Service logs ==")
    for name, (levels, first) in RUN.levels.items():
        print(f"  {name:<16} ERROR {levels.get('ERROR', 0)}, WARN {levels.get('WARN', 0)}")
        for line in first:
            print(f"    {line}")

    print("\n== Stock invariant ==")
    for line in RUN.invariant_lines:
        print(f"  {line}")

    refusals = collections.Counter()
    for (kind, outcome, code, expected), count in RUN.outcomes.items():
        if expected and isinstance(outcome, int) and outcome >= 400:
            refusals[f"{outcome} {code}"] += count
    options = RUN.options
    print("\n== Summary ==")
    print(f"Soak: {duration / 60:.1f} min of mixed traffic, {options.num_users} virtual users (think time "
          f"{RUN.think_ms[0]:g}-{RUN.think_ms[1]:g} ms), {len(RUN.product_ids)} products, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, locust")
    print(f"Requests: {total} ({total / duration:.0f}/s); unexpected: {RUN.unexpected}; expected refusals: "
          + (", ".join(f"{key} {count}" for key, count in sorted(refusals.items())) or "none"))
    print(f"  {'kind':<13} {'requests':>8} {'2xx':>7} {'4xx':>6} {'5xx':>4} {'err':>4} {'unexp':>5} {'p50 ms':>7} {'p99 ms':>7}")
    for kind in [kind for kind in KINDS if kind in by_kind]:
        row = by_kind[kind]
        p50, p99 = RUN.latency.get(kind, (None, None))
        print(f"  {kind:<13} {row['total']:>8} {row['2xx']:>7} {row['4xx']:>6} {row['5xx']:>4} {row['err']:>4} "
              f"{row['unexpected']:>5} {fmt_ms(p50):>7} {fmt_ms(p99):>7}")
    p50, p99 = RUN.latency.get("all", (None, None))
    print(f"  {'all':<13} {total:>8} {'':>7} {'':>6} {sum(r['5xx'] for r in by_kind.values()):>4} "
          f"{sum(r['err'] for r in by_kind.values()):>4} {RUN.unexpected:>5} {fmt_ms(p50):>7} {fmt_ms(p99):>7}")
    print(f"RSS (MiB, sampled every {RUN.interval:g} s):")
    print(f"  {'process':<16} {'first':>8} {'last':>8} {'max':>8}   growth after warm-up")
    for name in names:
        values = [row["rss"][name] for row in RUN.rows if row["rss"][name] is not None]
        if values:
            # Growth after warm-up: from the sample at about a tenth of the run to the last one.
            warm = values[min(len(values) - 1, max(1, len(values) // 10))]
            growth = values[-1] - warm
            print(f"  {name:<16} {fmt_mib(values[0]):>8} {fmt_mib(values[-1]):>8} {fmt_mib(max(values)):>8}"
                  f"   {growth / 1024:+.1f} MiB ({100 * growth / warm:+.0f}%) since {fmt_mib(warm)}")
    closed = collections.Counter()
    for (service, _, status), count in RUN.closed_by_server.items():
        closed[f"{service} after {status}"] += count
    print("Kept-alive connections closed by a service between requests (replaced before reuse): "
          f"{sum(closed.values())}" + (f" ({', '.join(f'{k}: {v}' for k, v in sorted(closed.items()))})" if closed else ""))
    alive = [name for name in RUN.pids if name not in RUN.down]
    errors = sum(levels.get("ERROR", 0) for levels, _ in RUN.levels.values())
    print(f"Service log lines at ERROR: {errors}; services running at the end: "
          + (", ".join(alive) if not RUN.down else f"{', '.join(alive) or 'none'} (DOWN: {', '.join(RUN.down)})"))
    print("Stock invariant: " + ("PASS" if RUN.invariant_lines[-1].startswith("PASS") else "FAIL") + " — "
          + "; ".join(RUN.invariant_lines[:2]))
    print("Result: " + ("PASS" if RUN.ok else "FAIL"), flush=True)

