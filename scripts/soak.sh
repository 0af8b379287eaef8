#!/usr/bin/env bash
# A soak run: the release build of every service under mixed traffic at moderate load for a while,
# against a throwaway MongoDB replica set, to see what only time shows (memory that creeps up,
# errors that come once in ten thousand requests, stock that drifts).
#
#   scripts/soak.sh [minutes, default 10]
#
# scripts/soak/traffic.py seeds a catalog (300 products of one seller in 6 categories, one in ten
# with little stock) and runs 16 virtual users, each with its own client address, account and
# keep-alive connections: browsing, searching, reading products and categories, logging in (some
# with a wrong password), refreshing tokens, placing orders (some with an Idempotency-Key and a
# replay), cancelling and listing them, a few hundred requests a second in all. Every 15 s (10-30 s,
# by the length of the run) it samples each service's RSS (and MongoDB's, for information). At the
# end it checks, through the API as an admin, that for every product the initial stock equals the
# current stock plus the units in orders that are not CANCELLED, and prints: the unexpected
# outcomes, the outcomes by kind, status and error code, request rate, latency and RSS over time,
# the count of error lines in the service logs, and a summary block.
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
[ $# -le 1 ] && [[ "$minutes" =~ ^[1-9][0-9]{0,3}$ ]] || usage
readonly SERVICES=(user-service product-service order-service)

# shellcheck source=scripts/bench/lib.sh
source scripts/bench/lib.sh

echo "Building (release)…"
cargo build --release --locked -q -p user-service -p product-service -p order-service
bin="${CARGO_TARGET_DIR:-target}/release"

work=$(mktemp -d "${TMPDIR:-/tmp}/ecommerce-soak.XXXXXX")
logs=$(mktemp -d "${TMPDIR:-/tmp}/soak-$(date +%Y%m%d-%H%M%S).XXXX")
declare -A pid port
trap run_cleanup EXIT
trap 'exit 130' INT TERM # so that the EXIT trap cleans up after a Ctrl-C or a kill too

if [ -z "${MONGO_URI:-}" ]; then
  own_mongo=1
  MONGO_URI=$(scripts/mongodb.sh start --port "$(free_port)" --dbpath "$work/mongodb")
fi
run_db="soak_$(date +%s)_$$"
admin_email="soak-admin@example.com"
admin_password=$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
JWT_SECRET=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
export MONGO_URI JWT_SECRET DB_NAME="$run_db" ADMIN_EMAIL="$admin_email" ADMIN_PASSWORD="$admin_password" \
  BCRYPT_COST=10 TRUSTED_PROXY_HEADER=X-Forwarded-For RUST_LOG=warn LOG_FORMAT=json

echo "Service logs: $logs"
for service in "${SERVICES[@]}"; do
  port[$service]=$(free_port)
  PORT=${port[$service]} "$bin/$service" >"$logs/$service.log" 2>&1 &
  pid[$service]=$!
done
for service in "${SERVICES[@]}"; do
  for _ in $(seq 1 150); do
    curl -fsS -o /dev/null "http://127.0.0.1:${port[$service]}/health" 2>/dev/null && break
    sleep 0.2
  done
  curl -fsS -o /dev/null "http://127.0.0.1:${port[$service]}/health" || {
    echo "$service did not start; its log:" >&2
    tail -n 20 "$logs/$service.log" >&2
    exit 1
  }
done
# The admin account is ensured at startup; the traffic logs in with it at the end.
for _ in $(seq 1 50); do
  curl -fsS -o /dev/null "http://127.0.0.1:${port[user-service]}/health/db" 2>/dev/null && break
  sleep 0.2
done

args=(--minutes "$minutes" --vus "${SOAK_USERS:-16}" --think-ms "${SOAK_THINK_MS:-20-80}"
  --users "http://127.0.0.1:${port[user-service]}" --products "http://127.0.0.1:${port[product-service]}"
  --orders "http://127.0.0.1:${port[order-service]}" --admin "$admin_email:$admin_password")
for service in "${SERVICES[@]}"; do
  args+=(--pid "$service=${pid[$service]}" --log "$service=$logs/$service.log")
done
[ -n "${own_mongo:-}" ] && args+=(--pid "mongod=$(cat "$work/mongodb/mongod.pid")")

set +e
PYTHONDONTWRITEBYTECODE=1 python3 scripts/soak/traffic.py "${args[@]}"
status=$?
set -e
exit "$status"
