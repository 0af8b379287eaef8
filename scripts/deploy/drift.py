#!/usr/bin/env python3
"""Checks that the deploy files agree with the code (run by scripts/check-deploy.sh).

The truth comes from what the services' binaries report of themselves, never from a list kept
here or from reading their source:
  - environment variables: `<service> --settings` lists every setting the service reads (those
    every service reads are the shared ones); the rows of the settings table in
    docs/configuration.md (its "## Settings" section) must list exactly the union (each service's
    own test checks its defaults and ranges against the same table);
  - ports: the default of PORT in that list;
  - routes: the paths of `<service> --openapi`, the document it serves at /openapi.json.

Against that it checks docker-compose.yml, render.yaml, the Dockerfile, deploy/docker/healthcheck.sh,
deploy/k8s/*, deploy/prometheus/prometheus.yml and deploy/nginx/gateway.conf.template (when it
exists): every variable given to a service is one that service reads; every port is the service's
port; every health path is /health or /health/db; every metrics path is /metrics; every routed path
is one the target service serves; kustomization.yaml lists every manifest but the Secret template.
Prints one line per check and exits 1 if any failed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("user-service", "product-service", "order-service")
HEALTH_PATHS = {"/health", "/health/db"}
METRICS_PATH = "/metrics"

# Variables in these files that are not the services' own, and who reads them instead.
NOT_THE_SERVICES = {
    "GATEWAY_PORT": "nginx image: envsubst into deploy/nginx/gateway.conf.template",
    "USER_SERVICE_UPSTREAM": "nginx image: envsubst into the gateway template",
    "PRODUCT_SERVICE_UPSTREAM": "nginx image: envsubst into the gateway template",
    "ORDER_SERVICE_UPSTREAM": "nginx image: envsubst into the gateway template",
    "WEB_ROOT": "nginx image: envsubst into the gateway template (the storefront's folder)",
}
NOT_THE_SERVICES_PREFIXES = {
    "GF_": "Grafana's own settings",
    "MONGO_INITDB_": "the mongo image's first-start settings",
    "NGINX_": "the nginx image's entrypoint settings",
}
# Read by the Dockerfile (a build argument: Render passes a service's variables to the build).
BUILD_ARGS = {"SERVICE"}
# Variables a deployed service must be given: no default (JWT_SECRET) or a default that only
# suits a developer's machine (MONGO_URI, 127.0.0.1).
REQUIRED = {"JWT_SECRET", "MONGO_URI"}
# Routes of the contract (API.md) that a deploy file may route to before the code serves them.
# A route listed here that the code serves already is reported, so the entry can go.
PENDING_ROUTES: dict[str, str] = {}

results: list[tuple[bool, str, str]] = []


VERBOSE = "--verbose" in sys.argv[1:]


def report(ok: bool, check: str, detail: str) -> None:
    results.append((ok, check, detail))
    if VERBOSE or not ok:
        print(f"  {'ok  ' if ok else 'FAIL'} {check}: {detail}")


def note(check: str, detail: str) -> None:
    print(f"  note {check}: {detail}")


def load_all(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


# --- what the binaries say ---------------------------------------------------------------------

# The services' binaries, built by scripts/check-deploy.sh (the workspace's debug build).
BIN_DIR = Path(os.environ.get("SERVICE_BIN_DIR", ROOT / "target" / "debug"))


def describe(service: str, flag: str) -> dict:
    """What `<service> --settings` or `--openapi` prints: the binary reads no environment and
    reaches no database for it."""
    binary = BIN_DIR / service
    if not binary.exists():
        sys.exit(f"drift.py: {binary} is missing: build the services first (scripts/check-deploy.sh does)")
    out = subprocess.run([str(binary), flag], check=True, capture_output=True, text=True, timeout=60)
    return json.loads(out.stdout)


SETTINGS = {s: describe(s, "--settings")["settings"] for s in SERVICES}
OPENAPI = {s: describe(s, "--openapi") for s in SERVICES}


def code_variables() -> dict[str, set[str]]:
    """Variable names by scope: "common" (read by every service) or a service's name (read by
    that service, beyond the common ones)."""
    names = {s: {setting["name"] for setting in SETTINGS[s]} for s in SERVICES}
    common = set.intersection(*names.values())
    return {"common": common, **{s: names[s] - common for s in SERVICES}}


CONFIGURATION = ROOT / "docs" / "configuration.md"
SETTINGS_HEADING = "## Settings"


def documented_variables() -> set[str] | None:
    """The variables named in the first cell of each row of docs/configuration.md's settings
    table; None when the file or its section is missing (reported as a failure, not as an empty
    table)."""
    if not CONFIGURATION.exists():
        return None
    text = CONFIGURATION.read_text()
    section = re.search(rf"^{re.escape(SETTINGS_HEADING)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    if not section:
        return None
    names: set[str] = set()
    for line in section.group(1).splitlines():
        if line.startswith("|") and not line.startswith("| ---"):
            first_cell = line.split("|")[1]
            names.update(re.findall(r"`([A-Z][A-Z0-9_]*)`", first_cell))
    return names


def default_ports() -> dict[str, int]:
    return {
        s: int(setting["default"])
        for s in SERVICES
        for setting in SETTINGS[s]
        if setting["name"] == "PORT"
    }


def served_routes() -> dict[str, set[str]]:
    """The paths of each service's OpenAPI document, the health routes included."""
    return {s: set(OPENAPI[s]["paths"]) for s in SERVICES}


# --- helpers -----------------------------------------------------------------------------------


def is_not_the_services(name: str) -> bool:
    return name in NOT_THE_SERVICES or any(name.startswith(p) for p in NOT_THE_SERVICES_PREFIXES)


def compose_environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def serves(routes: set[str], prefix: str) -> bool:
    return any(r == prefix or r.startswith(prefix + "/") for r in routes)


class Checker:
    def __init__(self) -> None:
        self.code = code_variables()
        self.documented = documented_variables()
        self.ports = default_ports()
        self.routes = served_routes()
        self.known = set().union(*self.code.values())
        self.compose_trusts_gateway = False

    def readable_by(self, service: str | None) -> set[str]:
        """What a service reads; None: what every service reads."""
        return self.code["common"] | (self.code[service] if service else set())

    def check_variables(self, check: str, where: str, names: set[str], service: str | None,
                        extra: set[str] = frozenset()) -> None:
        readable = self.readable_by(service) | extra
        unknown = sorted(n for n in names if n not in readable)
        if unknown:
            hints = []
            for n in unknown:
                owners = [s for s in SERVICES if n in self.code[s]]
                hints.append(f"{n} (only {', '.join(owners)} reads it)" if owners else f"{n} (no service reads it)")
            whom = service or "every service"
            report(False, check, f"{where}: not read by {whom}: {', '.join(hints)}")
        else:
            report(True, check, f"{where}: {len(names)} variables, all read by {service or 'every service'}")

    def check_port(self, check: str, where: str, service: str, value) -> None:
        try:
            port = int(str(value))
        except ValueError:
            report(False, check, f"{where}: '{value}' is not a port")
            return
        want = self.ports.get(service)
        if want is None:
            report(False, check, f"{where}: no run(\"{service}\", PORT, ...) in {service}/src/main.rs to compare with")
            return
        report(port == want, check, f"{where}: {port}" + ("" if port == want else f", {service} listens on {want}"))

    def check_health(self, check: str, where: str, path: str) -> None:
        report(path in HEALTH_PATHS, check, f"{where}: {path}"
               + ("" if path in HEALTH_PATHS else f" is not one of {sorted(HEALTH_PATHS)}"))

    def check_route(self, check: str, where: str, service: str, prefix: str) -> None:
        if serves(self.routes[service], prefix):
            report(True, check, f"{where}: {service} serves {prefix}")
            if PENDING_ROUTES.get(prefix) == service:
                note(check, f"{service} serves {prefix} now: drop it from PENDING_ROUTES in {Path(__file__).name}")
        elif PENDING_ROUTES.get(prefix) == service:
            report(True, check, f"{where}: {prefix} is in the contract, not yet served by {service} (pending)")
        else:
            report(False, check, f"{where}: {service} serves nothing under {prefix}")

    # --- the code and docs/configuration.md ----------------------------------------------------

    def code_and_configuration(self) -> None:
        report(set(self.ports) == set(SERVICES), "code", f"default ports {self.ports}")
        report(all(self.routes.values()), "code", "routes: " + ", ".join(f"{s} {len(r)}" for s, r in self.routes.items()))
        where = CONFIGURATION.relative_to(ROOT)
        if self.documented is None:
            report(False, "configuration", f"{where} has no \"{SETTINGS_HEADING}\" table to compare with the code")
            return
        missing = sorted(self.known - self.documented)
        report(not missing, "configuration", f"every variable the code reads is in {where}'s settings table"
               if not missing else f"{where}'s settings table lacks {', '.join(missing)}")
        stale = sorted(self.documented - self.known)
        report(not stale, "configuration", f"every variable of {where}'s settings table is read by the code"
               if not stale else f"no code reads {', '.join(stale)}, yet {where}'s settings table lists it")

    # --- docker-compose.yml --------------------------------------------------------------------

    def compose(self) -> None:
        doc = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
        services = doc.get("services", {})
        for name, service in services.items():
            env = compose_environment(service)
            where = f"docker-compose.yml {name}"
            if "build" in service:  # one of ours
                if name not in SERVICES:
                    report(False, "compose", f"{where}: built from the Dockerfile, but no service is called {name}")
                    continue
                args = (service["build"] or {}).get("args", {}) if isinstance(service["build"], dict) else {}
                report(args.get("SERVICE") == name, "compose", f"{where}: build arg SERVICE={args.get('SERVICE')}")
                self.check_variables("compose", where, set(env), name)
                if name == "user-service" and env.get("TRUSTED_PROXY_HEADER", "").lower() == "x-forwarded-for":
                    self.compose_trusts_gateway = True
                missing = sorted(REQUIRED - set(env))
                report(not missing, "compose", f"{where}: gets {', '.join(sorted(REQUIRED))}"
                       if not missing else f"{where}: lacks {', '.join(missing)}")
                if "PORT" in env:
                    self.check_port("compose", f"{where} PORT", name, env["PORT"])
                for exposed in service.get("expose", []):
                    self.check_port("compose", f"{where} expose", name, str(exposed).split("/")[0])
                for published in service.get("ports", []):
                    target = published.get("target") if isinstance(published, dict) else str(published).split(":")[-1]
                    self.check_port("compose", f"{where} ports", name, str(target).split("/")[0])
            else:
                foreign = sorted(n for n in env if not is_not_the_services(n))
                report(not foreign, "compose", f"{where}: {len(env)} variables, none meant for the services"
                       if not foreign else f"{where}: {', '.join(foreign)} is neither its own nor allowed")
                for key, value in env.items():
                    up = re.fullmatch(r"(USER|PRODUCT|ORDER)_SERVICE_UPSTREAM", key)
                    if up:
                        target = f"{up.group(1).lower()}-service"
                        host, _, port = value.partition(":")
                        report(host == target, "compose", f"{where} {key}: host {host}")
                        self.check_port("compose", f"{where} {key}", target, port)
            test = (service.get("healthcheck") or {}).get("test")
            text = " ".join(test) if isinstance(test, list) else str(test or "")
            script = "/usr/local/bin/healthcheck"
            for path in re.findall(r"/health[\w/]*", text.replace(script, "")):
                self.check_health("health", f"{where} healthcheck", path)
            if script in text:
                report(True, "health", f"{where} healthcheck: deploy/docker/healthcheck.sh")

    # --- the Dockerfile and its health check ---------------------------------------------------

    def dockerfile(self) -> None:
        text = (ROOT / "Dockerfile").read_text()
        env_names = set()
        for line in re.findall(r"^ENV\s+((?:.*\\\n)*.*)$", text, re.M):
            env_names.update(re.findall(r"(?:^|\s)([A-Z][A-Z0-9_]*)=", line.replace("\\\n", " ")))
        self.check_variables("dockerfile", "Dockerfile ENV", env_names, None)
        stages = re.split(r"^FROM\s+", text, flags=re.M)[1:]
        for service in SERVICES:
            stage = next((s for s in stages if re.match(rf"\S+\s+AS\s+{service}\s*$", s.splitlines()[0], re.I)), None)
            if stage is None:
                report(False, "dockerfile", f"no stage named {service}")
                continue
            port = re.search(r"^ENV\s+PORT=(\d+)", stage, re.M)
            expose = re.search(r"^EXPOSE\s+(\d+)", stage, re.M)
            self.check_port("dockerfile", f"stage {service} ENV PORT", service, port.group(1) if port else "none")
            self.check_port("dockerfile", f"stage {service} EXPOSE", service, expose.group(1) if expose else "none")
        script = (ROOT / "deploy/docker/healthcheck.sh").read_text()
        paths = re.findall(r"GET (/\S*) HTTP", script)
        report(bool(paths), "health", "deploy/docker/healthcheck.sh sends a GET")
        for path in paths:
            self.check_health("health", "deploy/docker/healthcheck.sh", path)

    # --- render.yaml ---------------------------------------------------------------------------

    def render(self) -> None:
        doc = yaml.safe_load((ROOT / "render.yaml").read_text())
        groups = {}
        for group in doc.get("envVarGroups", []):
            keys = {v["key"] for v in group.get("envVars", [])}
            groups[group["name"]] = keys
            self.check_variables("render", f"render.yaml group {group['name']}", keys, None)
        names = [s["name"] for s in doc.get("services", [])]
        report(sorted(names) == sorted(SERVICES), "render", f"services {names}")
        for service in doc.get("services", []):
            name = service["name"]
            if name not in SERVICES:
                continue
            where = f"render.yaml {name}"
            own = {v["key"]: v for v in service.get("envVars", []) if "key" in v}
            self.check_variables("render", where, set(own), name, extra=BUILD_ARGS)
            given = set(own).union(*(groups.get(v["fromGroup"], set()) for v in service.get("envVars", []) if "fromGroup" in v))
            missing = sorted(REQUIRED - given)
            report(not missing, "render", f"{where}: gets {', '.join(sorted(REQUIRED))}"
                   if not missing else f"{where}: lacks {', '.join(missing)}")
            report(own.get("SERVICE", {}).get("value") == name, "render", f"{where}: SERVICE={own.get('SERVICE', {}).get('value')}")
            if "PORT" in own:
                self.check_port("render", f"{where} PORT", name, own["PORT"].get("value"))
            if "healthCheckPath" in service:
                self.check_health("health", f"{where} healthCheckPath", service["healthCheckPath"])

    # --- deploy/k8s ----------------------------------------------------------------------------

    def kubernetes(self) -> None:
        k8s = ROOT / "deploy/k8s"
        kustomization = yaml.safe_load((k8s / "kustomization.yaml").read_text())
        listed = kustomization.get("resources", [])
        manifests = sorted(p.name for p in k8s.glob("*.yaml") if p.name not in ("kustomization.yaml", "secret.example.yaml"))
        missing = sorted(set(manifests) - set(listed))
        absent = sorted(set(listed) - set(manifests))
        report(not missing and not absent and "secret.example.yaml" not in listed, "k8s",
               "kustomization.yaml lists every manifest but secret.example.yaml" if not (missing or absent)
               else f"kustomization.yaml: not listed {missing}, listed but absent {absent}")

        docs = []
        for path in sorted(k8s.glob("*.yaml")):
            if path.name != "kustomization.yaml":
                docs += [(path.name, d) for d in load_all(path)]
        by_kind: dict[str, list] = {}
        for file, d in docs:
            by_kind.setdefault(d["kind"], []).append((file, d))

        config_maps = {d["metadata"]["name"] for _, d in by_kind.get("ConfigMap", [])}
        secrets = {d["metadata"]["name"] for _, d in by_kind.get("Secret", [])}
        provided: dict[str, set[str]] = {}
        for file, d in by_kind.get("ConfigMap", []) + by_kind.get("Secret", []):
            keys = set(d.get("data") or {}) | set(d.get("stringData") or {})
            provided[d["metadata"]["name"]] = keys
            self.check_variables("k8s", f"{file} {d['kind']} {d['metadata']['name']}", keys, None)

        for file, d in by_kind.get("Deployment", []):
            name = d["metadata"]["name"]
            where = f"{file} Deployment {name}"
            if name not in SERVICES:
                report(False, "k8s", f"{where}: no service is called {name}")
                continue
            pod = d["spec"]["template"]
            annotations = pod["metadata"].get("annotations", {})
            report(annotations.get("prometheus.io/scrape") == "true", "k8s", f"{where}: prometheus.io/scrape")
            self.check_port("k8s", f"{where} prometheus.io/port", name, annotations.get("prometheus.io/port", "none"))
            path = annotations.get("prometheus.io/path")
            report(path == METRICS_PATH, "metrics", f"{where} prometheus.io/path: {path}")
            for container in pod["spec"]["containers"]:
                env = {e["name"]: e.get("value") for e in container.get("env", [])}
                self.check_variables("k8s", f"{where} env", set(env), name)
                given = set(env)
                for source in container.get("envFrom", []):
                    ref = source.get("configMapRef") or source.get("secretRef")
                    kind = "ConfigMap" if "configMapRef" in source else "Secret"
                    exists = ref["name"] in (config_maps if kind == "ConfigMap" else secrets)
                    report(exists, "k8s", f"{where} envFrom {kind} {ref['name']}"
                           + ("" if exists else " is defined by no manifest here"))
                    given |= provided.get(ref["name"], set())
                missing = sorted(REQUIRED - given)
                report(not missing, "k8s", f"{where}: gets {', '.join(sorted(REQUIRED))}"
                       if not missing else f"{where}: lacks {', '.join(missing)}")
                if "PORT" in env:
                    self.check_port("k8s", f"{where} PORT", name, env["PORT"])
                named_ports = {}
                for port in container.get("ports", []):
                    self.check_port("k8s", f"{where} containerPort", name, port["containerPort"])
                    named_ports[port.get("name")] = port["containerPort"]
                for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                    get = (container.get(probe) or {}).get("httpGet")
                    if not get:
                        report(False, "health", f"{where}: no httpGet {probe}")
                        continue
                    self.check_health("health", f"{where} {probe}", get["path"])
                    self.check_port("k8s", f"{where} {probe} port", name, named_ports.get(get["port"], get["port"]))

        service_ports = {}
        for file, d in by_kind.get("Service", []):
            name = d["metadata"]["name"]
            if name not in SERVICES:
                report(False, "k8s", f"{file} Service {name}: no service is called {name}")
                continue
            for port in d["spec"]["ports"]:
                self.check_port("k8s", f"{file} Service {name} port", name, port["port"])
                service_ports.setdefault(name, set()).add(port["port"])
                target = port.get("targetPort")
                if isinstance(target, int):
                    self.check_port("k8s", f"{file} Service {name} targetPort", name, target)

        for file, d in by_kind.get("Ingress", []):
            for rule in d["spec"].get("rules", []):
                for p in rule.get("http", {}).get("paths", []):
                    backend = p["backend"]["service"]
                    target = backend["name"]
                    where = f"{file} Ingress {p['path']}"
                    if target not in SERVICES:
                        report(False, "route", f"{where}: no service is called {target}")
                        continue
                    port = backend["port"].get("number")
                    if port is not None:
                        self.check_port("route", f"{where} backend port", target, port)
                    prefix = re.search(r"\((/[a-z][a-z0-9-]*)", p["path"])
                    if not prefix:
                        report(False, "route", f"{where}: no (/<prefix>...) group to rewrite to")
                        continue
                    self.check_route("route", where, target, prefix.group(1))

    # --- deploy/prometheus ---------------------------------------------------------------------

    def prometheus(self) -> None:
        doc = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
        scraped = set()
        for job in doc.get("scrape_configs", []):
            path = job.get("metrics_path", "/metrics")
            report(path == METRICS_PATH, "metrics", f"prometheus.yml job {job['job_name']}: {path}")
            for static in job.get("static_configs", []):
                for target in static.get("targets", []):
                    host, _, port = target.partition(":")
                    if host not in SERVICES:
                        report(False, "prometheus", f"prometheus.yml target {target}: no service is called {host}")
                        continue
                    scraped.add(host)
                    self.check_port("prometheus", f"prometheus.yml target {target}", host, port)
        report(scraped == set(SERVICES), "prometheus", f"prometheus.yml scrapes {sorted(scraped)}")

    # --- deploy/nginx/gateway.conf.template ----------------------------------------------------

    def gateway(self) -> None:
        template = ROOT / "deploy/nginx/gateway.conf.template"
        if not template.exists():
            note("route", "deploy/nginx/gateway.conf.template does not exist yet: not checked")
            return
        text = re.sub(r"#.*", "", template.read_text())
        upstreams = {f"{s.split('-')[0].upper()}_SERVICE_UPSTREAM": s for s in SERVICES}
        # upstream blocks that name a service through its variable: upstream NAME { server ${VAR}; }
        upstream_names = {}
        for name, body in re.findall(r"upstream\s+(\S+)\s*\{([^}]*)\}", text):
            for var, service in upstreams.items():
                if var in body:
                    upstream_names[name] = service
        checked = 0
        for location, body in re.findall(r"location\s+([^{]+?)\s*\{((?:[^{}]|\{[^{}]*\})*)\}", text):
            target = None
            proxy = re.search(r"proxy_pass\s+https?://([^/;\s]+)(/[^;\s]*)?\s*;", body)
            if not proxy:
                continue
            host = proxy.group(1)
            for var, service in upstreams.items():
                if var in host:
                    target = service
            target = target or upstream_names.get(host)
            if target is None:
                continue
            # the path the service receives: a rewrite's replacement, else proxy_pass's URI part,
            # else the location itself
            path = proxy.group(2) or location.split()[-1]
            rewrite = re.search(r"rewrite\s+(\S+)\s+([^\s;]+)", body)
            if rewrite:
                replacement = rewrite.group(2)
                group = re.match(r"\$(\d)", replacement)
                if group:  # rewrite ^/api(/orders.*)$ $1: the group's literal start
                    starts = re.findall(r"\((/[a-z][a-z0-9-]*)?", rewrite.group(1))
                    index = int(group.group(1)) - 1
                    path = starts[index] if index < len(starts) and starts[index] else replacement
                else:
                    path = replacement
            prefix = re.match(r"/[a-z][a-z0-9-]*", path.lstrip("^~* ="))
            if not prefix:
                report(False, "route", f"gateway.conf.template location {location.strip()}: cannot tell the path it proxies")
                continue
            checked += 1
            if prefix.group(0) in ("/health", "/metrics", "/docs", "/openapi.json"):
                report(True, "route", f"gateway.conf.template location {location.strip()}: {target} {prefix.group(0)}")
                continue
            self.check_route("route", f"gateway.conf.template location {location.strip()}", target, prefix.group(0))
        if not checked:
            note("route", "gateway.conf.template: found no location whose proxied path could be read")
        # docker-compose.yml gives the user service TRUSTED_PROXY_HEADER: X-Forwarded-For, which
        # holds only if the gateway sets that header from the address it sees.
        if not self.compose_trusts_gateway:
            return
        sets_xff = re.search(r"proxy_set_header\s+X-Forwarded-For\s+\$(?:proxy_add_x_forwarded_for|remote_addr)\b", text, re.I)
        report(bool(sets_xff), "route", "gateway.conf.template sets X-Forwarded-For for the user service's rate limits"
               if sets_xff else "gateway.conf.template never sets X-Forwarded-For ($proxy_add_x_forwarded_for or "
               "$remote_addr), yet docker-compose.yml trusts it on the user service")


def main() -> int:
    checker = Checker()
    checker.code_and_configuration()
    checker.compose()
    checker.dockerfile()
    checker.render()
    checker.kubernetes()
    checker.prometheus()
    checker.gateway()
    for check in dict.fromkeys(c for _, c, _ in results):
        mine = [ok for ok, c, _ in results if c == check]
        print(f"  {check}: {sum(mine)} of {len(mine)} assertions hold")
    failed = [r for r in results if not r[0]]
    print(f"drift: {len(results) - len(failed)} passed, {len(failed)} failed"
          + ("" if VERBOSE else " (--verbose lists every assertion)"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
