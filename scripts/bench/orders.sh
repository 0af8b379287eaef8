#!/usr/bin/env bash
# Orders per second, measured two ways on this machine against a throwaway MongoDB replica set:
#
# 1. the driver alone, 32 tasks, one product: the order's two writes (conditional take + insert)
#    and the same plus one hold release per order (three writes): the ceiling the service is
#    measured against;
# 2. through the HTTP service with wrk, 32 connections: every request orders one product (the
#    flash-sale case), then one of 1000 products. Afterwards, the units taken from stock must
#    equal the units in placed orders.
#
#   scripts/bench/orders.sh [seconds per run, default 20]
#
# Needs wrk (Debian/Ubuntu: apt-get install wrk). Logs at warn level, as request logging is not
# what is measured. MONGO_URI, if set, is used instead of a throwaway server.
set -euo pipefail
cd "$(dirname "$0")/../.."
readonly SECONDS_PER_RUN=${1:-20}
readonly CONNECTIONS=32

# shellcheck source=scripts/bench/lib.sh
source scripts/bench/lib.sh
ensure_wrk


echo "Building (release)…"
cargo build --release --locked -q -p user-service -p product-service -p order-service
bin="${CARGO_TARGET_DIR:-target}/release"
cargo bench --locked -q -p order-service --bench driver_baseline --no-run

work=$(mktemp -d "${TMPDIR:-/tmp}/ecommerce-bench.XXXXXX")
pids=()
cleanup() {
  [ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null && wait "${pids[@]}" 2>/dev/null
  scripts/mongodb.sh stop --dbpath "$work/mongodb" || true
  rm -rf "$work"
}
trap cleanup EXIT

if [ -z "${MONGO_URI:-}" ]; then
  MONGO_URI=$(scripts/mongodb.sh start --port "$(free_port)" --dbpath "$work/mongodb")
fi
export MONGO_URI
JWT_SECRET=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
export JWT_SECRET DB_NAME="bench_$(date +%s)" RUST_LOG=warn LOG_FORMAT=json BCRYPT_COST=4

echo
echo "== The driver alone: $CONNECTIONS tasks, one product =="
cargo bench --locked -q -p order-service --bench driver_baseline -- "$CONNECTIONS" "$SECONDS_PER_RUN"

declare -A port
for service in user-service product-service order-service; do
  port[$service]=$(free_port)
  PORT=${port[$service]} "$bin/$service" >"$work/$service.log" 2>&1 &
  pids+=($!)
done
for service in user-service product-service order-service; do
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:${port[$service]}/health" >/dev/null 2>&1 && break
    sleep 0.1
  done
done
users="http://127.0.0.1:${port[user-service]}"
products="http://127.0.0.1:${port[product-service]}"
orders="http://127.0.0.1:${port[order-service]}"

token=$(python3 scripts/bench/setup.py "$users" "$products" "$work")
for run in hot many; do
  if [ "$run" = hot ]; then label="one product"; else label="1000 products"; fi
  echo
  echo "== HTTP, wrk: $CONNECTIONS connections, $label, ${SECONDS_PER_RUN} s =="
  wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" --latency -s scripts/bench/order.lua "$orders" \
    -- "$token" "$work/$run.txt" | grep -E '^RESULT|Requests/sec|Non-2xx'
done

echo
python3 scripts/bench/check.py "$products" "$orders" "$token" "$work"
