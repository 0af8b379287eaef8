#!/usr/bin/env python3
"""The measuring half of scripts/bench/events.sh: subscriptions, a steady-rate order generator,
and what the receivers (scripts/bench/events_receiver.py) recorded, checked against the service's
own account of its deliveries.

    events_bench.py admin USER_URL                    prints an admin access token (ADMIN_EMAIL, ADMIN_PASSWORD)
    events_bench.py subscribe URL                     subscribes URL to ["*"]; prints its id
    events_bench.py unsubscribe ID                    deletes a subscription (and its deliveries)
    events_bench.py settle LABEL START END            waits until every event of the run is delivered, then
                                                      prints what arrived during the run and after it, when the
                                                      last event was relayed and dispatched, and checks
    events_bench.py place RATE SECONDS OUT            places orders at RATE a second for SECONDS; writes
                                                      "<201 arrival> <order id>" lines to OUT
    events_bench.py latency RECORDS ORDERS            from each 201 to its order.placed at the receiver
    events_bench.py pending WEBHOOK                   once every event is dispatched: the deliveries pending
    events_bench.py drain WEBHOOK RECORDS ORDERS PENDING DOWN_AT
                                                      the receiver is back: how long until ORDERS' events all arrived
    events_bench.py attempts LABEL WEBHOOK RECORDS ORDERS
                                                      attempts per delivery of ORDERS' events, and their duration
    events_bench.py cpu CHILDREN PID...               a mark of CPU time used, all and this benchmark's
    events_bench.py cpu-between LABEL MARK MARK       how busy the cores were between two marks, and not by us
    events_bench.py verify                            once nothing is pending: every subscription's deliveries, three ways

Settings come from the environment: EVENTS_ORDERS (the order service's URL), EVENTS_ADMIN (an
admin token), EVENTS_BUYER (the buyer's token), EVENTS_WORK (the folder with many.txt and the
receivers' receiver-*.txt), MONGO_URI and DB_NAME (read directly, with pymongo on PYTHONPATH, for
what the API does not show: whether any event is still in an outbox or undispatched, and how many
events each subscription should get). Times are Unix seconds (time.time() here, in the receivers,
and `date +%s.%N` in the script), all on this one machine's clock. A discrepancy is printed as a
`PROBLEM` line and appended to EVENTS_WORK/problems.txt, and the run goes on, so that one run
shows everything that went wrong.
"""

import http.client
import itertools
import json
import math
import os
import pathlib
import random
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request


def env(name):
    return os.environ[name]


def call(method, url, body=None, token=None):
    """(status, headers, parsed body) of one request; 4xx/5xx are returned, not raised."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            payload = response.read()
            return response.status, response.headers, json.loads(payload) if payload else None
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read().decode(errors="replace")


def problem(text):
    print(f"PROBLEM {text}", flush=True)
    with open(pathlib.Path(env("EVENTS_WORK")) / "problems.txt", "a") as out:
        out.write(text + "\n")


def percentile(sorted_values, q):
    """Nearest rank."""
    return sorted_values[max(0, math.ceil(q / 100 * len(sorted_values)) - 1)]


def database():
    import pymongo

    return pymongo.MongoClient(env("MONGO_URI"), serverSelectionTimeoutMS=10_000)[env("DB_NAME")]


def delivery_count(webhook, status):
    query = urllib.parse.urlencode({"status": status, "limit": 1})
    code, headers, body = call("GET", f"{env('EVENTS_ORDERS')}/webhooks/{webhook}/deliveries?{query}", token=env("EVENTS_ADMIN"))
    if code != 200:
        sys.exit(f"GET /webhooks/{webhook}/deliveries?status={status}: {code} {body}")
    return int(headers["X-Total-Count"])


def read_records(path):
    """The receiver's records: (listening time or None, [(arrival, webhook-id, type, data id, path)])."""
    listening, records = None, []
    with open(path) as lines:
        for line in lines:
            if not line.endswith("\n"):
                break  # being written
            if line.startswith("# listening "):
                listening = float(line.split()[2])
                continue
            arrived, webhook_id, kind, data_id, url_path = line.split()
            records.append((float(arrived), webhook_id, kind, data_id, url_path))
    return listening, records


class Tail:
    """A receiver's file read as it grows: each `poll` parses only the lines added since."""

    def __init__(self, path):
        self.path, self.offset, self.listening, self.records = path, 0, None, []

    def poll(self):
        with open(self.path, "rb") as data:
            data.seek(self.offset)
            chunk = data.read()
        end = chunk.rfind(b"\n") + 1  # a line being written waits for the next poll
        self.offset += end
        for line in chunk[:end].decode().splitlines():
            if line.startswith("# listening "):
                self.listening = float(line.split()[2])
            else:
                arrived, webhook_id, kind, data_id, url_path = line.split()
                self.records.append((float(arrived), webhook_id, kind, data_id, url_path))
        return self.listening, self.records


def all_records():
    records = []
    for path in sorted(pathlib.Path(env("EVENTS_WORK")).glob("receiver-*.txt")):
        records += read_records(path)[1]
    return records


# --- subscriptions ---------------------------------------------------------------------------


def admin(users):
    code, _, body = call("POST", f"{users}/users/login", {"email": env("ADMIN_EMAIL"), "password": env("ADMIN_PASSWORD")})
    if code != 200:
        sys.exit(f"admin login: {code} {body}")
    print(body["access_token"])


def subscribe(url):
    code, _, body = call("POST", f"{env('EVENTS_ORDERS')}/webhooks", {"url": url, "events": ["*"], "description": "events benchmark"}, env("EVENTS_ADMIN"))
    if code != 201:
        sys.exit(f"POST /webhooks {url}: {code} {body}")
    print(body["id"])


def unsubscribe(webhook):
    code, _, body = call("DELETE", f"{env('EVENTS_ORDERS')}/webhooks/{webhook}", token=env("EVENTS_ADMIN"))
    if code != 204:
        sys.exit(f"DELETE /webhooks/{webhook}: {code} {body}")


# --- waiting until the service has nothing left to do ------------------------------------------


def backlog(db):
    """What is still between an order and its receivers: orders whose outbox the relay has not
    emptied, events not dispatched, deliveries pending."""
    return (
        db.orders.count_documents({"outbox.id": {"$exists": True}}),
        db.events.count_documents({"undispatched": True}),
        db.webhook_deliveries.count_documents({"status": "PENDING"}),
    )


def wait_idle(db, not_before, timeout, deliveries=True):
    """Until the backlog is empty (deliveries included, unless not asked) at two looks a second
    apart, and not before `not_before`: an order wrk cut off still completes on the server.
    Returns when it first saw every event relayed and dispatched (looking every 0.5 s)."""
    deadline = time.time() + timeout
    quiet_since = dispatched = None
    next_note = time.time() + 60
    while True:
        now = time.time()
        left = backlog(db)
        if dispatched is None and left[0] == 0 and left[1] == 0:
            dispatched = now
        empty = left[0] == 0 and left[1] == 0 and (left[2] == 0 or not deliveries)
        if empty and now >= not_before:
            if quiet_since is not None and now - quiet_since >= 1:
                return dispatched
            quiet_since = quiet_since or now
        else:
            quiet_since = None
        if now > deadline:
            problem(f"still not idle after {timeout:.0f} s: outboxes={left[0]} undispatched={left[1]} pending deliveries={left[2]}")
            sys.exit(1)
        if now > next_note:
            print(f"  … waiting: outboxes={left[0]} undispatched={left[1]} pending deliveries={left[2]}", file=sys.stderr, flush=True)
            next_note = now + 60
        time.sleep(0.5)


def verify(db=None, quiet=False):
    """Each subscription's deliveries three ways: the events it should get (every event since it
    was created, read from `events`), DELIVERED in the API, distinct webhook-ids at its receiver
    path; and none pending or failed, and no event received twice."""
    db = database() if db is None else db
    by_path = {}
    for arrived, webhook_id, kind, data_id, url_path in all_records():
        seen = by_path.setdefault(url_path, {})
        seen[webhook_id] = seen.get(webhook_id, 0) + 1
    totals = dict(subscriptions=0, events_expected=0, delivered_api=0, received_distinct=0, duplicates=0, pending=0, failed=0)
    for webhook in db.webhooks.find():
        wid = str(webhook["_id"])
        path = urllib.parse.urlsplit(webhook["url"]).path
        expected = db.events.count_documents({"occurred_at": {"$gte": webhook["created_at"]}})
        delivered, pending, failed = (delivery_count(wid, s) for s in ("DELIVERED", "PENDING", "FAILED"))
        seen = by_path.get(path, {})
        duplicates = sum(n - 1 for n in seen.values())
        for key, value in (("subscriptions", 1), ("events_expected", expected), ("delivered_api", delivered), ("received_distinct", len(seen)), ("duplicates", duplicates), ("pending", pending), ("failed", failed)):
            totals[key] += value
        if not (expected == delivered == len(seen)) or pending or failed or duplicates:
            problem(f"subscription {wid} ({path}): events since it was created={expected} DELIVERED={delivered} received (distinct webhook-ids)={len(seen)} duplicates={duplicates} PENDING={pending} FAILED={failed}")
    if not quiet:
        print("CHECK " + " ".join(f"{k}={v}" for k, v in totals.items()), flush=True)
    return totals


def settled_verify():
    """`verify` once the service has nothing left to deliver (a delivery is recorded as DELIVERED
    only after its receiver answered)."""
    db = database()
    wait_idle(db, time.time(), float(os.environ.get("SETTLE_TIMEOUT", 1800)))
    verify(db)


def settle(label, start, end):
    """After a wrk run: wait until its events are all delivered, then say how many arrived during
    the run and when the last one arrived, and check every subscription."""
    start, end = float(start), float(end)
    db = database()
    dispatched = wait_idle(db, end + 2, float(os.environ.get("SETTLE_TIMEOUT", 1800)))
    records = [r for r in all_records() if r[0] >= start]
    distinct = {(r[4], r[1]) for r in records}
    during = sum(1 for r in records if r[0] <= end)
    last = max((r[0] for r in records), default=None)
    after = f"{last - end:.1f}" if last is not None and last > end else "0"
    print(
        f"RESULT delivered {label} deliveries={len(distinct)} during_run={during}"
        f" dispatched_s_after_run={max(0.0, dispatched - end):.1f} last_s_after_run={after} duplicates={len(records) - len(distinct)}",
        flush=True,
    )
    verify(db)


# --- placing orders at a steady rate ------------------------------------------------------------


def place(rate, seconds, out_path, threads=8):
    """Orders at `rate` a second for `seconds` from `threads` threads with a kept-alive connection
    each: order i is sent at start + i/rate (or as soon as a thread is free, if none was), one
    unit of a random product of the 1000. Records when each 201 (its whole body) arrived."""
    rate, seconds = float(rate), float(seconds)
    url = urllib.parse.urlsplit(env("EVENTS_ORDERS"))
    ids = (pathlib.Path(env("EVENTS_WORK")) / "many.txt").read_text().split()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {env('EVENTS_BUYER')}"}
    total = int(rate * seconds)
    counter = itertools.count()
    lock = threading.Lock()
    placed, refused, errors, latencies = [], {}, [], []
    late = [0.0]
    start = time.time() + 0.2

    def worker():
        conn = None
        while True:
            with lock:
                i = next(counter)
            if i >= total:
                break
            wait = start + i / rate - time.time()
            if wait > 0:
                time.sleep(wait)
            else:
                late[0] = max(late[0], -wait)
            body = json.dumps({"items": [{"product_id": random.choice(ids), "quantity": 1}]})
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
                sent = time.time()
                conn.request("POST", "/orders", body, headers)
                response = conn.getresponse()
                payload = response.read()
                arrived = time.time()
            except (OSError, http.client.HTTPException) as err:
                errors.append(repr(err))
                if conn is not None:
                    conn.close()
                conn = None
                continue
            with lock:
                latencies.append(arrived - sent)
                if response.status == 201:
                    placed.append((arrived, json.loads(payload)["id"]))
                else:
                    refused[response.status] = refused.get(response.status, 0) + 1

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    took = time.time() - start
    placed.sort()
    with open(out_path, "w") as out:
        out.writelines(f"{arrived:.6f} {order_id}\n" for arrived, order_id in placed)
    latencies.sort()
    print(
        f"RESULT placing rate={rate:g} seconds={seconds:g} placed={len(placed)} refused={sum(refused.values())} errors={len(errors)}"
        f" took_s={took:.1f} post_p50_ms={percentile(latencies, 50) * 1000:.1f} post_p99_ms={percentile(latencies, 99) * 1000:.1f}"
        f" most_behind_schedule_ms={late[0] * 1000:.0f}",
        flush=True,
    )
    if refused or errors:
        problem(f"placing orders: refused {refused}, errors {len(errors)} (first: {errors[:1]})")


def read_orders(path):
    orders = {}
    for line in open(path):
        arrived, order_id = line.split()
        orders[order_id] = float(arrived)
    return orders


def first_arrivals(records, orders):
    """The first arrival of each order's order.placed, and every record of them (for duplicates)."""
    first, count = {}, {}
    for arrived, webhook_id, kind, data_id, _ in records:
        if kind == "order.placed" and data_id in orders:
            first[data_id] = min(first.get(data_id, arrived), arrived)
            count[webhook_id] = count.get(webhook_id, 0) + 1
    return first, sum(n - 1 for n in count.values())


def latency(records_path, orders_path):
    """From each order's 201 to its order.placed at the receiver: wait until all arrived (or 120 s
    after the last 201), then p50, p99, max."""
    orders = read_orders(orders_path)
    deadline = max(orders.values(), default=time.time()) + 120
    while True:
        first, duplicates = first_arrivals(read_records(records_path)[1], orders)
        if len(first) == len(orders) or time.time() > deadline:
            break
        time.sleep(0.5)
    lags = sorted(first[o] - orders[o] for o in first)
    if not lags:
        problem(f"latency: none of {len(orders)} orders' events arrived")
        return
    ms = lambda s: f"{s * 1000:.1f}"
    print(
        f"RESULT latency orders={len(orders)} matched={len(first)} p50_ms={ms(percentile(lags, 50))} p99_ms={ms(percentile(lags, 99))}"
        f" max_ms={ms(lags[-1])} min_ms={ms(lags[0])} duplicates={duplicates}",
        flush=True,
    )
    if len(first) != len(orders):
        problem(f"latency: {len(orders) - len(first)} of {len(orders)} orders' order.placed did not arrive within 120 s of the last 201")


# --- the backlog --------------------------------------------------------------------------------


def pending(webhook):
    """Once every order's event is relayed and dispatched: the subscription's PENDING deliveries."""
    wait_idle(database(), time.time(), 600, deliveries=False)
    print(delivery_count(webhook, "PENDING"))


def drain(webhook, records_path, orders_path, pending_at_return, down_at):
    """The receiver came back (its file's `# listening` line): how long until every order placed
    while it was down had its event, the first delivery after its return, and the rate."""
    orders = read_orders(orders_path)
    timeout = float(os.environ.get("DRAIN_TIMEOUT", 3600))
    next_note = time.time() + 30
    tail, arrived, looked = Tail(records_path), set(), 0
    while True:
        back, records = tail.poll()
        arrived.update(r[3] for r in records[looked:] if r[3] in orders)
        looked = len(records)
        if len(arrived) >= len(orders):
            first, duplicates = first_arrivals(records, orders)
            if len(first) == len(orders):
                break
        if back is not None and time.time() > back + timeout:
            problem(f"drain: after {timeout:.0f} s only {len(arrived)} of {len(orders)} events arrived (PENDING={delivery_count(webhook, 'PENDING')})")
            return
        if time.time() > next_note:
            print(f"  … draining: {len(arrived)} of {len(orders)} arrived", file=sys.stderr, flush=True)
            next_note = time.time() + 30
        time.sleep(0.5)
    pending_at_return = int(pending_at_return)
    first_any = min((r[0] for r in records), default=back)
    last = max(first.values())
    seconds = last - back
    print(
        f"RESULT drain down_s={back - float(down_at):.0f} orders_while_down={len(orders)} pending_at_return={pending_at_return}"
        f" first_delivery_s={first_any - back:.1f} last_delivery_s={seconds:.1f} drain_per_s={pending_at_return / seconds:.0f}"
        f" drain_per_s_from_first={(len(first) - 1) / max(last - first_any, 1e-9):.0f}"
        f" received={len(records)} distinct={len(first)} duplicates={duplicates}",
        flush=True,
    )
    if pending_at_return != len(orders):
        problem(f"drain: {pending_at_return} deliveries pending at the receiver's return, but {len(orders)} orders were placed while it was down")


def attempts(label, webhook, records_path, orders_path):
    """What the service recorded of the deliveries of ORDERS' events (found by their webhook-ids
    in RECORDS), newest first from the API: attempts per delivery (failed ones before the one
    that delivered) and how long the delivering attempt took (`duration_ms`: reading the event,
    connecting, sending, the answer)."""
    orders = read_orders(orders_path)
    wanted = {r[1] for r in read_records(records_path)[1] if r[3] in orders}
    counts, durations, offset = [], [], 0
    while wanted:
        query = urllib.parse.urlencode({"status": "DELIVERED", "limit": 1000, "offset": offset})
        code, _, page = call("GET", f"{env('EVENTS_ORDERS')}/webhooks/{webhook}/deliveries?{query}", token=env("EVENTS_ADMIN"))
        if code != 200 or not page:
            break
        for delivery in page:
            if delivery["event_id"] in wanted:
                wanted.discard(delivery["event_id"])
                counts.append(len(delivery["attempts"]))
                durations.append(delivery["attempts"][-1]["duration_ms"])
        offset += len(page)
    if not counts:
        problem(f"attempts {label}: no delivery found")
        return
    counts.sort()
    durations.sort()
    print(
        f"RESULT attempts {label} deliveries={len(counts)} attempts={sum(counts)} per_delivery_p50={percentile(counts, 50)}"
        f" per_delivery_max={counts[-1]} delivering_attempt_p50_ms={percentile(durations, 50)}"
        f" delivering_attempt_p99_ms={percentile(durations, 99)}",
        flush=True,
    )
    if wanted:
        problem(f"attempts {label}: {len(wanted)} delivered events not found among the subscription's DELIVERED deliveries")


def cpu(children, *pids):
    """A mark for `cpu-between`: the time, the machine's busy CPU seconds (/proc/stat: everything
    but idle and iowait), and this benchmark's: PIDS' (MongoDB, the services, the receivers) plus
    CHILDREN, the second line of the script's `times` (what the programs it ran and waited for
    used, wrk among them)."""
    ticks = os.sysconf("SC_CLK_TCK")
    fields = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    busy = sum(fields) - fields[3] - fields[4]
    ours = sum(float(m) * 60 + float(s) for m, s in (part.rstrip("s").split("m") for part in children.split()))
    for pid in pids:
        try:
            stat = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ours += (int(stat[11]) + int(stat[12])) / ticks  # utime, stime
    print(f"{time.time():.3f} {busy / ticks:.2f} {ours:.2f}")


def cpu_between(label, start, end):
    """How busy the machine's cores were between two marks, and how much of that was not this
    benchmark (other people's builds and tests on a shared machine), in % of all cores."""
    (t0, busy0, ours0), (t1, busy1, ours1) = ([float(x) for x in mark.split()] for mark in (start, end))
    capacity = (t1 - t0) * os.cpu_count()
    busy, others = busy1 - busy0, (busy1 - busy0) - (ours1 - ours0)
    print(f"RESULT cpu {label} busy_pct={round(100 * busy / capacity)} not_this_benchmark_pct={round(100 * others / capacity)}", flush=True)


def main():
    command, args = sys.argv[1], sys.argv[2:]
    commands = {
        "admin": admin, "subscribe": subscribe, "unsubscribe": unsubscribe, "settle": settle,
        "place": place, "latency": latency, "pending": pending, "drain": drain, "attempts": attempts,
        "cpu": cpu, "cpu-between": cpu_between, "verify": settled_verify,
    }
    commands[command](*args)


if __name__ == "__main__":
    main()
