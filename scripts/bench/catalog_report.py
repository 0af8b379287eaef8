#!/usr/bin/env python3
"""The catalog benchmark's checks and tables (standard library only).

    catalog_report.py check URL SPEC [TOKEN]   one GET; prints "ok" or what is wrong with it
    catalog_report.py print RESULTS_DIR         the tables of RESULTS_DIR/{routes,services}.tsv

SPEC is a ';'-separated list of what the answer must be (beyond status 200):
    total=N       X-Total-Count is N            count=N         the array has N items
    sum:F=N       the items' F add up to N      F~TEXT          every item's F contains TEXT
    F==VALUE      every item's F is VALUE       F=A..B          every item's F is from A to B
    sorted=F      items in ascending F          (case-insensitive; TEXT and VALUE URL-encoded)
A single object is checked as an array of one item.
"""

import csv
import json
import sys
import urllib.error
import urllib.parse
import urllib.request


def check(url, spec, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=60) as response:
            body, total = json.loads(response.read()), response.headers.get("X-Total-Count")
    except urllib.error.HTTPError as err:
        return f"HTTP {err.code}"
    except (OSError, ValueError) as err:
        return f"no answer ({type(err).__name__})"
    items = body if isinstance(body, list) else [body]
    problems = []
    for rule in filter(None, spec.split(";")):
        problem = broken_rule(rule, items, total)
        if problem:
            problems.append(problem)
    return "; ".join(problems) or "ok"


def broken_rule(rule, items, total):
    if "~" in rule:
        field, text = rule.split("~", 1)
        text = urllib.parse.unquote(text).lower()
        if not all(text in str(item.get(field, "")).lower() for item in items):
            return f"{field} not filtered"
    elif "==" in rule:
        field, value = rule.split("==", 1)
        value = urllib.parse.unquote(value).lower()
        if not all(str(item.get(field, "")).lower() == value for item in items):
            return f"{field} not filtered"
    elif rule.startswith("sorted="):
        field = rule.removeprefix("sorted=")
        values = [item.get(field) for item in items]
        if values != sorted(values):
            return f"not sorted by {field}"
    else:
        key, expected = rule.split("=", 1)
        if ".." in expected:
            low, high = map(float, expected.split(".."))
            if not all(low <= float(item.get(key, "nan")) <= high for item in items):
                return f"{key} not within {low:g}–{high:g}"
        elif key == "total":
            if total != expected:
                return f"X-Total-Count {total}, expected {expected}"
        elif key == "count":
            if len(items) != int(expected):
                return f"{len(items)} items, expected {expected}"
        elif key.startswith("sum:"):
            field = key.removeprefix("sum:")
            got = sum(item.get(field, 0) for item in items)
            if got != int(expected):
                return f"{field} adds up to {got}, expected {expected}"
        else:
            raise SystemExit(f"catalog_report: unknown rule {rule!r}")
    return None


def read_tsv(path):
    try:
        with open(path, newline="") as file:
            return list(csv.DictReader(file, delimiter="\t"))
    except FileNotFoundError:
        return []


def table(headers, rows, right):
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]
    lines = []
    for row in [headers, *rows]:
        cells = [str(cell).rjust(w) if i in right else str(cell).ljust(w) for i, (cell, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def print_tables(results):
    routes = read_tsv(f"{results}/routes.tsv")
    services = read_tsv(f"{results}/services.tsv")
    baseline = {}
    for row in routes:  # the first (smallest) size of each route is the baseline
        baseline.setdefault((row["group"], row["route"]), float(row["rps"]))
    rows = []
    for row in routes:
        base = baseline[(row["group"], row["route"])]
        rows.append([
            row["route"], row["group"], f"{int(row['size']):,}", f"{float(row['rps']):,.0f}",
            f"{float(row['p50_ms']):.2f}", f"{float(row['p99_ms']):.2f}",
            f"{float(row['rps']) / base:.2f}x" if base else "-",
            row["non2xx"], row["errors"], row["check"],
        ])
    print(table(["route", "of", "size", "req/s", "p50 ms", "p99 ms", "vs smallest", "non-2xx", "errors", "check"],
                rows, right={2, 3, 4, 5, 6, 7, 8}))
    print()
    single = {(r["size"]): r["p50_ms"] for r in routes if r["route"] == "search 1%, 1 conn"}
    rows = [[
        row["service"], row["group"], f"{int(row['size']):,}", f"{float(row['health_s']):.2f}",
        f"{float(row['ready_s']):.2f}", f"{float(row['rss_mb']):.0f}",
        f"{float(row['mongod_rss_mb']):.0f}" if row["mongod_rss_mb"] != "-" else "-",
        f"{float(single[row['size']]):.2f}" if row["service"] == "product-service" and row["size"] in single else "",
    ] for row in services]
    print(table(["service", "of", "size", "health s", "ready s", "RSS MB", "mongod RSS MB", "search 1% p50 ms, 1 conn"],
                rows, right={2, 3, 4, 5, 6, 7}))
    print("health: until GET /health answers; ready: until a list counts everything seeded; "
          "RSS after the runs")
    print()
    print("Routes (the values at the largest size):")
    paths = {}
    for row in routes:
        paths[row["route"]] = row["path"]
    for route, path in paths.items():
        print(f"  {route:22} GET {path}")


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "check":
        print(check(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None))
    elif len(sys.argv) == 3 and sys.argv[1] == "print":
        print_tables(sys.argv[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
