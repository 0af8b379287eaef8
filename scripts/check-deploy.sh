#!/usr/bin/env bash
# Checks the deploy files without Docker, a cluster or a Render account, and exits non-zero if any
# check fails:
#   compose     docker-compose.yml against the Compose Specification's JSON Schema
#   kubernetes  every manifest in deploy/k8s (the Secret template too) against Kubernetes 1.30's
#               schemas, strictly (an unknown field fails); kustomization.yaml builds, when kubectl
#               is installed
#   dockerfile  hadolint on the Dockerfile, failing on warnings; bash -n on the health check
#   render      render.yaml against scripts/deploy/render-blueprint.schema.json, written from
#               Render's Blueprint reference
#   dashboard   deploy/grafana/dashboards/ecommerce.json: valid JSON, uid, provisioned datasource,
#               only the metric and label names the services export (scripts/deploy/dashboard.py)
#   drift       variables, ports, health, metrics and routed paths of every deploy file against
#               what the services' binaries report (`--settings`, `--openapi`) and the settings
#               table of docs/configuration.md (scripts/deploy/drift.py); builds the services first
#
# The tools come from PyPI into a virtualenv cached in
# ${XDG_CACHE_HOME:-~/.cache}/ecommerce-rs/deploy-venv (never in the repository), installed again
# only when the pins below change: about 20 s the first time; every later run takes a few seconds.
#
#   scripts/check-deploy.sh             run every check
#   scripts/check-deploy.sh --verbose   also list every assertion of the drift check
set -euo pipefail
cd "$(dirname "$0")/.."

readonly KUBERNETES_VERSION=1.30.0

verbose=''
for arg in "$@"; do
  case "$arg" in
    --verbose) verbose=--verbose ;;
    *) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2; exit 2 ;;
  esac
done

log() { echo "check-deploy.sh: $*" >&2; }

# The checkers, pinned in scripts/lib/tools.txt (group `deploy`), installed once into the cache.
. scripts/lib/tools.sh
tools=$(tools_install deploy)
# shellcheck source=scripts/lib/stack.sh
. scripts/lib/stack.sh
export PATH="$tools/bin:$PATH" PYTHONPATH="$tools"

failed=()
run_check() {
  local name=$1
  shift
  echo "== $name"
  if "$@"; then
    echo "ok   $name"
  else
    echo "FAIL $name"
    failed+=("$name")
  fi
}

check_compose() {
  check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml
}

check_kubernetes() {
  local manifests=()
  for manifest in deploy/k8s/*.yaml; do
    [ "$(basename "$manifest")" = kustomization.yaml ] || manifests+=("$manifest")
  done
  kubernetes-validate --strict --quiet --kubernetes-version "$KUBERNETES_VERSION" "${manifests[@]}" || return 1
  echo "${#manifests[@]} manifests valid for Kubernetes $KUBERNETES_VERSION"
  if command -v kubectl >/dev/null; then
    local resources
    resources=$(kubectl kustomize deploy/k8s | grep -c '^kind:') || return 1
    echo "kubectl kustomize deploy/k8s: $resources resources"
  else
    echo "kubectl not installed: kustomization.yaml not built (drift checks its resource list)"
  fi
}

check_dockerfile() {
  hadolint --failure-threshold warning Dockerfile || return 1
  echo "hadolint: no warning"
  bash -n deploy/docker/healthcheck.sh && echo "deploy/docker/healthcheck.sh: bash syntax ok"
}

check_render() {
  check-jsonschema --schemafile scripts/deploy/render-blueprint.schema.json render.yaml
}

check_drift() {
  stack_build debug || return 1
  SERVICE_BIN_DIR=$stack_bin python3 scripts/deploy/drift.py $verbose
}

start=$SECONDS
run_check compose check_compose
run_check kubernetes check_kubernetes
run_check dockerfile check_dockerfile
run_check render check_render
run_check dashboard python3 scripts/deploy/dashboard.py
run_check drift check_drift

echo
if [ ${#failed[@]} -eq 0 ]; then
  echo "check-deploy.sh: every check passed ($((SECONDS - start)) s)"
else
  echo "check-deploy.sh: failed: ${failed[*]} ($((SECONDS - start)) s)"
  exit 1
fi
