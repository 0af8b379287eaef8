#!/usr/bin/env bash
# A soak run: the release build of every service under mixed traffic at moderate load for a while,
# against a throwaway MongoDB replica set, to see what only time shows (memory that creeps up,
# errors that come once in ten thousand requests, stock that drifts).
#
#   scripts/soak.sh [minutes, default 10]
#
# The traffic is a locust run (scripts/soak/locustfile.py; locust is pinned in
# scripts/lib/tools.txt and installed once into ~/.cache/ecommerce-rs/soak). It seeds a catalog
# (300 products of one seller in 6 categories, one in ten with little stock) and runs 16 virtual
# users, each with its own client address, account and keep-alive connections: browsing, searching,
# reading products and categories, logging in (some with a wrong password), refreshing tokens,
# placing orders (some with an Idempotency-Key and a replay), cancelling and listing them, a few
# hundred requests a second in all. Every 15 s (10-30 s, by the length of the run) it samples each
# service's RSS (and MongoDB's, for information). At the end it checks, through the API as an
# admin, that for every product the initial stock equals the current stock plus the units in
# orders that are not CANCELLED, and prints: the unexpected outcomes, the outcomes by kind, status
# and error code, request rate and RSS over time, the count of error lines in the service logs, and
# a summary block (requests and rate, 5xx, socket errors, latency per kind, RSS, the invariant).
#
# Expected refusals are 409 INSUFFICIENT_STOCK, 401 INVALID_CREDENTIALS for a wrong password and
# 429 RATE_LIMITED with Retry-After (which the user then waits out). Exits 1 on anything else
# (any 5xx, any socket error or timeout, another status, a body that breaks the contract), on a
# broken invariant, or when a service is gone at the end.
#
# The services run as they would in production except for these settings: TRUSTED_PROXY_HEADER
# is X-Forwarded-For (each user's own address, so the per-client limits, left at their defaults,
# apply per user), BCRYPT_COST is 10 rather than 12 (a quarter of the work per login, so that on a
# small machine logins do not crowd out the rest of the traffic; the queue in front of bcrypt is
# still exercised), and they log at warn level in JSON. Their logs are kept in the folder printed
# at the start. MONGO_URI, if set, is used instead of a throwaway server, with a database of this
# run's own that is dropped at the end. SOAK_USERS (16) and SOAK_THINK_MS (20-80, the pause
# between a user's actions) change the load.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

minutes=${1:-10}
if [ $# -gt 1 ] || ! [[ "$minutes" =~ ^[1-9][0-9]{0,3}$ ]]; then usage; fi
log() { echo "soak.sh: $*" >&2; }
# shellcheck source=scripts/lib/tools.sh
. scripts/lib/tools.sh
# shellcheck source=scripts/lib/stack.sh
. scripts/lib/stack.sh

locust=$(tools_install soak)
stack_build release -q
stack_init ecommerce-soak
stack_log_dir=$(mktemp -d "${TMPDIR:-/tmp}/soak-$(date +%Y%m%d-%H%M%S).XXXX")
stack_start_mongodb
stack_database
stack_service_env
export BCRYPT_COST=10 TRUSTED_PROXY_HEADER=X-Forwarded-For RUST_LOG=warn

echo "Service logs: $stack_log_dir"
stack_start_services
stack_wait_ready

args=(--headless --users "${SOAK_USERS:-16}" --spawn-rate "${SOAK_USERS:-16}" --run-time "$((minutes * 60))s"
  --stop-timeout 30 --only-summary --json-file "$stack_log_dir/locust-stats"
  --think-ms "${SOAK_THINK_MS:-20-80}" --admin "$ADMIN_EMAIL:$ADMIN_PASSWORD"
  --user-service "${service_url[user-service]}" --product-service "${service_url[product-service]}"
  --order-service "${service_url[order-service]}")
for service in "${STACK_SERVICES[@]}"; do
  args+=(--pid "$service=${service_pid[$service]}" --log "$service=$stack_log_dir/$service.log")
done
mongod_pid=$(stack_mongod_pid)
[ -z "$mongod_pid" ] || args+=(--pid "mongod=$mongod_pid")

set +e
PYTHONPATH=$locust PYTHONDONTWRITEBYTECODE=1 python3 -m locust -f scripts/soak/locustfile.py "${args[@]}"
status=$?
set -e
exit "$status"
