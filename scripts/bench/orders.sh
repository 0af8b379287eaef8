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
# Needs wrk (installed with apt-get when missing, as root). Logs at warn level, as request logging
# is not what is measured. MONGO_URI, if set, is used instead of a throwaway server, and the run's
# database is dropped at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
readonly SECONDS_PER_RUN=${1:-20}
readonly CONNECTIONS=32
log() { echo "orders.sh: $*" >&2; }
# shellcheck source=scripts/lib/tools.sh
. scripts/lib/tools.sh
# shellcheck source=scripts/lib/stack.sh
. scripts/lib/stack.sh

tools_debian wrk:wrk
stack_build release -q
cargo bench --locked -q -p order-service --bench driver_baseline --no-run

stack_init ecommerce-bench-orders
work=$stack_tmp
stack_start_mongodb
stack_database
stack_service_env
export RUST_LOG=warn

echo
echo "== The driver alone: $CONNECTIONS tasks, one product =="
cargo bench --locked -q -p order-service --bench driver_baseline -- "$CONNECTIONS" "$SECONDS_PER_RUN"

stack_start_services
stack_wait_ready
users=${service_url[user-service]}
products=${service_url[product-service]}
orders=${service_url[order-service]}

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
