#!/usr/bin/env python3
"""Checks the Grafana dashboard deploy/grafana/dashboards/ecommerce.json (run by
scripts/check-deploy.sh): valid JSON, uid `ecommerce`, schemaVersion 39, every Prometheus
datasource is the provisioned one (by uid, so the dashboard imports with no prompt), and every
PromQL expression (panel targets and template variables) names only metrics and labels the
services export. Prints one line per problem and exits 1 if there is any.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy/grafana/dashboards/ecommerce.json"
DATASOURCES = ROOT / "deploy/grafana/provisioning/datasources"

# The series the services export, each with the labels it carries (every one also has `service`).
HTTP = {"service", "method", "route", "status"}
MONGO = {"service", "command", "outcome"}
METRICS = {
    "http_requests_total": HTTP,
    "http_request_duration_seconds_bucket": HTTP | {"le"},
    "http_request_duration_seconds_sum": HTTP,
    "http_request_duration_seconds_count": HTTP,
    "http_requests_in_flight": {"service"},
    "mongodb_command_duration_seconds_bucket": MONGO | {"le"},
    "users_registered_total": {"service"},
    "logins_total": {"service", "outcome"},
    "orders_placed_total": {"service"},
    "orders_refused_total": {"service", "reason"},
    "orders_cancelled_total": {"service"},
    "orders_idempotent_replays_total": {"service"},
    "stock_units_taken_total": {"service"},
    "stock_units_returned_total": {"service"},
    "order_recovery_actions_total": {"service", "action"},
}
LABELS = set().union(*METRICS.values())

KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
    "offset", "inf", "nan",
}


def metric_names_and_labels(expr: str) -> tuple[set[str], set[str]]:
    """The metric names and label names an expression uses (PromQL, with Grafana variables)."""
    labels: set[str] = set()
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    text = re.sub(r"\$\{?\w+\}?", "1", text)  # Grafana variables such as $__rate_interval
    for inner in re.findall(r"\{([^}]*)\}", text):  # label matchers
        labels.update(re.findall(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)", inner))
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges
    for inner in re.findall(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)", text):
        labels.update(re.findall(r"[a-zA-Z_]\w*", inner))
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    # label_values(metric, label): the second argument is a label
    for metric, label in re.findall(r"label_values\(\s*([a-zA-Z_:][\w:]*)\s*,\s*(\w+)\s*\)", text):
        labels.add(label)
    text = re.sub(r"(label_values\(\s*[a-zA-Z_:][\w:]*\s*),\s*\w+\s*\)", r"\1)", text)
    names = set()
    for match in re.finditer(r"(?<![\w.])([a-zA-Z_:][\w:]*)(\s*\()?", text):
        word, call = match.group(1), match.group(2)
        if call or word.lower() in KEYWORDS or re.fullmatch(r"\d\w*", word):
            continue
        names.add(word)
    return names, labels


def walk(node, path="$"):
    """Yields (path, dict) for every object in the JSON document."""
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, f"{path}[{i}]")


def main() -> int:
    problems: list[str] = []
    try:
        dashboard = json.loads(DASHBOARD.read_text())
    except json.JSONDecodeError as err:
        print(f"  FAIL {DASHBOARD.relative_to(ROOT)} is not valid JSON: {err}")
        return 1
    if dashboard.get("uid") != "ecommerce":
        problems.append(f"uid is {dashboard.get('uid')!r}, not 'ecommerce'")
    if dashboard.get("schemaVersion") != 39:
        problems.append(f"schemaVersion is {dashboard.get('schemaVersion')!r}, not 39")
    if "__inputs" in dashboard or "${DS_" in DASHBOARD.read_text():
        problems.append("names a datasource input (${DS_...}): it would need a prompt to import")

    provisioned = {
        ds.get("uid")
        for f in sorted(DATASOURCES.glob("*.y*ml"))
        for ds in (yaml.safe_load(f.read_text()) or {}).get("datasources", [])
        if ds.get("type") == "prometheus"
    }
    if len(provisioned) != 1 or None in provisioned:
        problems.append(f"the provisioned Prometheus datasources have uids {provisioned}: want exactly one, with a uid")

    ids, exprs = [], 0
    for path, node in walk(dashboard):
        ds = node.get("datasource")
        if isinstance(ds, dict) and ds.get("type") == "prometheus" and ds.get("uid") not in provisioned:
            problems.append(f"{path}.datasource uid {ds.get('uid')!r} is not a provisioned datasource")
        if isinstance(ds, str):
            problems.append(f"{path}.datasource is a name ({ds!r}); use {{\"type\": \"prometheus\", \"uid\": ...}}")
        if path.count(".panels[") and "gridPos" in node and "id" in node:
            ids.append(node["id"])
        expr = node.get("expr")
        if expr is None and path.startswith("$.templating") and isinstance(node.get("query"), str):
            expr = node["query"]
        if isinstance(expr, str):
            exprs += 1
            names, labels = metric_names_and_labels(expr)
            if not names:
                problems.append(f"{path}: names no metric: {expr}")
            for name in sorted(names - set(METRICS)):
                problems.append(f"{path}: {name} is not a metric the services export")
            known = [METRICS[n] for n in names if n in METRICS]
            allowed = set().union(*known) if known else LABELS
            for label in sorted(labels - allowed):
                problems.append(f"{path}: label {label} is not one of {sorted(allowed)}")
    if len(ids) != len(set(ids)):
        problems.append(f"panel ids repeat: {sorted(ids)}")
    if exprs == 0:
        problems.append("no PromQL expression found")

    for problem in problems:
        print(f"  FAIL {problem}")
    print(f"  dashboard: uid {dashboard.get('uid')}, schemaVersion {dashboard.get('schemaVersion')}, "
          f"{len(ids)} panels, {exprs} PromQL expressions, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
