#!/usr/bin/env bash
# A flash sale: orders per second on one hot product (100 000 units), the three services built
# from this tree side by side with the three built from the commit before the group commit of
# takes (or BEFORE), against one throwaway MongoDB replica set on this machine:
#
# 1. for each build, wrk at 32 and 256 connections (SECONDS_PER_RUN each), the hot product's stock
#    reset to 100 000 before each run; orders/s, p50, p99, and the ratio after/before; then
#    spread orders (3.);
# 2. this tree's build at 1, 8, 32, 64, 128 and 256 connections: how the rate grows with them;
# 3. each build on 1000 products (spread orders: no contention), then the stock invariant over
#    every product: no unit lost or invented by either.
#
#   scripts/bench/flash_sale.sh [seconds per run, default 10]
#   BEFORE=<commit> scripts/bench/flash_sale.sh
#
# The "before" build goes into ~/.cache/ecommerce-rs/bench-before/<commit> (a git worktree with a
# target folder of its own), made once per commit: the first run takes a release build longer.
# Needs wrk (installed with apt-get when missing, as root). MONGO_URI, if set, is used instead of a
# throwaway server, and the run's database is dropped at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
readonly SECONDS_PER_RUN=${1:-10}
readonly HOT_STOCK=100000
log() { echo "flash_sale.sh: $*" >&2; }
# shellcheck source=scripts/lib/tools.sh
. scripts/lib/tools.sh
# shellcheck source=scripts/lib/stack.sh
. scripts/lib/stack.sh

before=${BEFORE:-$(git log --format=%H -1 --grep='group commit of takes')^}
before=$(git rev-parse --verify "$before^{commit}")
before_dir="${XDG_CACHE_HOME:-$HOME/.cache}/ecommerce-rs/bench-before/$before"
tools_debian wrk:wrk
pymongo=$(tools_install mongodb)
if [ ! -x "$before_dir/target/release/order-service" ] || [ ! -x "$before_dir/target/release/user-service" ] ||
  [ ! -x "$before_dir/target/release/product-service" ]; then
  log "building the services at ${before:0:7} (once)"
  rm -rf "$before_dir"
  mkdir -p "$(dirname "$before_dir")"
  git worktree prune
  git worktree add --detach "$before_dir" "$before" >/dev/null
  (cd "$before_dir" && CARGO_TARGET_DIR="$before_dir/target" cargo build --locked --release -q -p user-service -p product-service -p order-service)
fi
readonly before_bin="$before_dir/target/release"
stack_build release -q
readonly after_bin=$stack_bin

stack_init ecommerce-bench-flash-sale
work=$stack_tmp
stack_start_mongodb
stack_database
stack_service_env
export RUST_LOG=warn
# The three services from BIN (a build's release folder), in place of any running.
stack_start_build() { # BIN
  local name
  for name in "${STACK_SERVICES[@]}"; do
    if [ -n "${service_pid[$name]:-}" ]; then stack_stop_service "$name"; fi
    stack_bin=$1 stack_start_service "$name"
  done
  stack_bin=$after_bin
  stack_wait_ready
}
stack_start_build "$after_bin"
users=${service_url[user-service]}
products=${service_url[product-service]}
token=$(python3 scripts/bench/setup.py "$users" "$products" "$work")

# The hot product's stock back to 100 000. Its orders stay (deleting tens of thousands of
# documents between runs would load the server during the next one, which a sale does not do);
# the stock invariant below is checked on the spread products.
reset_hot() {
  PYTHONPATH="$pymongo" python3 - "$MONGO_URI" "$DB_NAME" "$(cat "$work/hot.txt")" "$HOT_STOCK" <<'PY'
import sys
import time
import pymongo
from bson import ObjectId
db = pymongo.MongoClient(sys.argv[1])[sys.argv[2]]
product = ObjectId(sys.argv[3])
# Orders cut off when wrk stopped still finish on the server: let them land first.
time.sleep(2)
db.products.update_one({"_id": product}, {"$set": {"stock": int(sys.argv[4])}})
PY
}

run_wrk() { # LABEL CONNECTIONS FILE
  local threads=$(( $2 < 2 ? 1 : 2 ))
  echo "== $1: wrk, $2 connections, ${SECONDS_PER_RUN} s =="
  wrk -t"$threads" -c"$2" -d"${SECONDS_PER_RUN}s" --latency -s scripts/bench/order.lua \
    "${service_url[order-service]}" -- "$token" "$3" | grep -E '^RESULT|Non-2xx'
}

declare -A rate
for build in before after; do
  if [ "$build" = before ]; then stack_start_build "$before_bin"; else stack_start_build "$after_bin"; fi
  for connections in 32 256; do
    reset_hot
    echo
    run_wrk "$build (${before:0:7} before the group commit; after: this tree), one hot product" "$connections" "$work/hot.txt" >"$work/run.txt"
    cat "$work/run.txt"
    rate[$build-$connections]=$(sed -nE 's/^RESULT.*orders_per_s=([0-9]+).*/\1/p' "$work/run.txt")
  done
  echo
  run_wrk "$build, 1000 products (spread orders, no contention)" 32 "$work/many.txt" >"$work/run.txt"
  cat "$work/run.txt"
  rate[$build-spread]=$(sed -nE 's/^RESULT.*orders_per_s=([0-9]+).*/\1/p' "$work/run.txt")
done

echo
for connections in 32 256; do
  printf 'RESULT hot_product connections=%s before=%s after=%s ratio=%s\n' "$connections" \
    "${rate[before-$connections]}" "${rate[after-$connections]}" \
    "$(python3 -c "print(f'{${rate[after-$connections]} / max(1, ${rate[before-$connections]}):.2f}')")"
done

printf 'RESULT spread connections=32 before=%s after=%s ratio=%s\n' \
  "${rate[before-spread]}" "${rate[after-spread]}" \
  "$(python3 -c "print(f'{${rate[after-spread]} / max(1, ${rate[before-spread]}):.2f}')")"

echo
echo "== How the rate grows with connections (this tree, one hot product) =="
for connections in 1 8 32 64 128 256; do
  reset_hot
  run_wrk "this tree" "$connections" "$work/hot.txt" | grep '^RESULT' | sed "s/^RESULT/RESULT connections=$connections/"
done

echo
# Every unit that left a spread product's stock is in an order that holds stock, and no hold is
# left on any product.
PYTHONPATH="$pymongo" python3 - "$MONGO_URI" "$DB_NAME" "$(cat "$work/hot.txt")" <<'PY'
import sys
import time
import pymongo
from bson import ObjectId
db = pymongo.MongoClient(sys.argv[1])[sys.argv[2]]
hot = ObjectId(sys.argv[3])
time.sleep(3)
holding = ["PENDING_PAYMENT", "PLACED", "SHIPPED", "DELIVERED"]
sold = {}
for order in db.orders.find({"status": {"$in": holding}, "items.product_id": {"$ne": hot}}, {"items": 1}):
    for line in order["items"]:
        sold[line["product_id"]] = sold.get(line["product_id"], 0) + line["quantity"]
taken = holds = 0
for product in db.products.find({}, {"stock": 1, "holds": 1}):
    # No hold left anywhere, the hot product's included.
    holds += len(product.get("holds", []))
    if product["_id"] != hot:
        taken += 1_000_000_000 - product["stock"]
placed = sum(sold.values())
print(f"RESULT spread units_taken={taken} units_in_orders={placed} holds_left={holds} "
      f"invariant={'held' if taken == placed and holds == 0 else 'BROKEN'}")
PY
