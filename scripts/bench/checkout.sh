#!/usr/bin/env bash
# What a checkout costs, measured on this machine against a throwaway MongoDB replica set:
#
# 1. POST /orders with wrk, 32 connections, with and without `"checkout": true` (the stock held
#    until paid), on one hot product and on 1000 products;
# 2. the expiry of COUNT (default 100 000) checkouts past their deadline, seeded straight into
#    MongoDB while the order service is stopped: how long from its start until every one is
#    EXPIRED and its stock back, and the orders per second wrk placed meanwhile on 1000 products,
#    against the same wrk run with nothing to expire. The units taken must then equal the units
#    in orders that hold stock.
#
#   scripts/bench/checkout.sh [seconds per run, default 10] [COUNT, default 100000]
#
# Needs wrk (installed with apt-get when missing, as root). MONGO_URI, if set, is used instead of
# a throwaway server, and the run's database is dropped at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
readonly SECONDS_PER_RUN=${1:-10}
readonly COUNT=${2:-100000}
readonly CONNECTIONS=32
log() { echo "checkout.sh: $*" >&2; }
# shellcheck source=scripts/lib/tools.sh
. scripts/lib/tools.sh
# shellcheck source=scripts/lib/stack.sh
. scripts/lib/stack.sh

tools_debian wrk:wrk
pymongo=$(tools_install mongodb)
stack_build release -q

stack_init ecommerce-bench-checkout
work=$stack_tmp
stack_start_mongodb
stack_database
stack_service_env
export RUST_LOG=warn
stack_start_services
stack_wait_ready
users=${service_url[user-service]}
products=${service_url[product-service]}
orders=${service_url[order-service]}
token=$(python3 scripts/bench/setup.py "$users" "$products" "$work")

run_wrk() { # LABEL PRODUCTS [checkout]
  echo
  echo "== $1: wrk, $CONNECTIONS connections, ${SECONDS_PER_RUN} s =="
  wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" --latency -s scripts/bench/order.lua \
    "${service_url[order-service]}" -- "$token" "$work/$2.txt" "${3:-}" | grep -E '^RESULT|Non-2xx'
}

run_wrk "orders, one product" hot
run_wrk "checkouts, one product" hot checkout
run_wrk "orders, 1000 products" many
run_wrk "checkouts, 1000 products" many checkout

echo
echo "== Expiring $COUNT checkouts past their deadline =="
stack_stop_service order-service
PYTHONPATH="$pymongo" python3 scripts/bench/pending_seed.py "$MONGO_URI" "$DB_NAME" "$work/many.txt" "$COUNT"
started=$(date +%s.%N)
stack_start_service order-service
stack_wait_ready
run_wrk "orders, 1000 products, while they expire" many &
wrk_pid=$!
PYTHONPATH="$pymongo" python3 - "$MONGO_URI" "$DB_NAME" "$started" <<'PY'
import sys, time
import pymongo
db = pymongo.MongoClient(sys.argv[1])[sys.argv[2]]
started = float(sys.argv[3])
seeded = {"items.name": "Seeded", "status": {"$in": ["PENDING_PAYMENT", "EXPIRING"]}}
while db.orders.count_documents(seeded):
    time.sleep(0.1)
expired = db.orders.count_documents({"items.name": "Seeded", "status": "EXPIRED"})
print(f"RESULT expired={expired} seconds_from_start={time.time() - started:.1f}")
PY
wait "$wrk_pid"
run_wrk "orders, 1000 products, nothing to expire" many

echo
python3 scripts/bench/check.py "$products" "${service_url[order-service]}" "$token" "$work"
