#!/usr/bin/env bash
# How catalog and order reads hold up as the data grows, on this machine, against a throwaway
# MongoDB replica set. Everything is seeded straight into MongoDB by scripts/bench/catalog_seed.py
# in the documents' stored shapes; tokens are minted with JWT_SECRET (no user service).
#
# 1. orders: for each count of --orders (default 2000,300000; "none" skips them) that many orders
#    (50% DELIVERED, 25% SHIPPED, 15% PLACED, 10% CANCELLED, plus one FAILED tombstone per 500)
#    next to the smallest catalog; order-service is restarted on them and wrk measures an
#    admin's GET /orders, an admin's GET /orders?status=SHIPPED and a buyer's own GET /orders
#    (the buyer holds one order in 30: about 10 000 of 300 000);
# 2. products: for each catalog SIZE (default 1000 100000 1000000, run in ascending order, each
#    topping up the one before) product-service is restarted on the seeded catalog and wrk
#    measures searches matching 1% and 10% of the names, the unfiltered list, a category, a
#    seller, a price range sorted by price, GET /categories and GET /products/{id} over 1000
#    random ids; then the 1% search once more with a single connection; then 1000 different
#    searches in turn (each a miss of the service's result cache), with 32 connections and 1.
#
# Each run is wrk with 32 connections (2 threads) for --seconds (default 10) after a one-second
# warm-up, with limit=20 on every list. Before each run one request checks the answer (status 200,
# X-Total-Count equal to what the seeder counted, items that match the filter), so a route that is
# broken or ignores a parameter shows in the table instead of looking fast. Each service's startup
# (until GET /health answers, and until a list counts everything seeded) and its RSS after the
# runs are recorded too.
#
#   scripts/bench/catalog.sh [--seconds N] [--orders COUNT,COUNT|none] [SIZE ...]
#   scripts/bench/catalog.sh --seconds 3 --orders 2000,20000 1000 10000    # a quick trial
#
# The default run takes about 9 minutes after the build (see BENCHMARKS.md). It prints the tables
# at the end; the raw results (routes.tsv, services.tsv, machine.txt), every wrk output and the
# service logs stay in the results folder it names. Needs wrk (installed with apt-get when
# missing, as root). Services log at warn level. MONGO_URI, if set, is used instead of a throwaway
# server, and the run's database is dropped at the end. The stack is started and stopped by
# scripts/lib/stack.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."

usage() {
  sed -n '2,33p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

seconds=10
order_counts=2000,300000
sizes=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=${2:-}; shift 2 || usage ;;
    --orders) order_counts=${2:-}; shift 2 || usage ;;
    -h | --help | -*) usage ;;
    *) sizes+=("$1"); shift ;;
  esac
done
[ ${#sizes[@]} -gt 0 ] || sizes=(1000 100000 1000000)
[ "$order_counts" = none ] && order_counts=''
IFS=, read -r -a orders_sizes <<<"$order_counts"
for n in "$seconds" "${sizes[@]}" "${orders_sizes[@]}"; do
  [[ "$n" =~ ^[1-9][0-9]{0,7}$ ]] || { echo "not a count: '$n'" >&2; usage; }
done
# Ascending: each size tops up the one before.
mapfile -t sizes < <(printf '%s\n' "${sizes[@]}" | sort -n -u)
[ ${#orders_sizes[@]} -gt 0 ] && mapfile -t orders_sizes < <(printf '%s\n' "${orders_sizes[@]}" | sort -n -u)
readonly CONNECTIONS=32 WARMUP_SECONDS=1

log() { echo "catalog.sh: $*" >&2; }
# shellcheck source=scripts/lib/tools.sh
. scripts/lib/tools.sh
# shellcheck source=scripts/lib/stack.sh
. scripts/lib/stack.sh
tools_debian wrk:wrk
pymongo=$(tools_install mongodb)

now() { date +%s.%N; }
since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$1" "$(now)"; }

stack_build release -q
stack_init ecommerce-bench-catalog
work=$stack_tmp
results=$(mktemp -d "${TMPDIR:-/tmp}/catalog-bench-$(date +%Y%m%d-%H%M%S).XXXX")
stack_log_dir=$results
stack_start_mongodb
stack_database
stack_service_env
export RUST_LOG=warn
declare -A port
port[product-service]=$(free_port)
port[order-service]=$(free_port)

seeder() { PYTHONPATH="$pymongo" python3 scripts/bench/catalog_seed.py "$@"; }
seed() { # products|orders COUNT: seeds, and reads the seeder's key=value lines into ${seed[…]}
  local out="$results/seed-$1-$2.txt" key value
  seeder "$1" "$MONGO_URI" "$DB_NAME" "$2" "$work" >"$out"
  while IFS='=' read -r key value; do seed[$key]=$value; done <"$out"
}
declare -A seed

# Starts SERVICE for GROUP at SIZE; waits until /health answers, then until READY_PATH lists
# everything seeded (X-Total-Count = READY_TOTAL). Both times go to services.tsv with the RSS later.
start_service() { # SERVICE GROUP SIZE READY_PATH READY_TOTAL [TOKEN]
  local service=$1 url="http://127.0.0.1:${port[$1]}" started health='' ready='' tries
  started=$(now)
  stack_start_service "$service" "${port[$service]}"
  for ((tries = 0; tries < 12000; tries++)); do # at most 10 minutes
    if [ -z "$health" ] && curl -fsS -o /dev/null "$url/health" 2>/dev/null; then health=$(since "$started"); fi
    if [ -n "$health" ] && [ "$(python3 scripts/bench/catalog_report.py check "$url$4" "total=$5" "${6:-}")" = ok ]; then
      ready=$(since "$started")
      break
    fi
    stack_running "${service_pid[$service]}" || { tail -n 20 "$results/$service.log" >&2; echo "$service stopped; log: $results/$service.log" >&2; exit 1; }
    sleep 0.05
  done
  [ -n "$ready" ] || { echo "$service did not list the $3 seeded $2 within 10 minutes" >&2; exit 1; }
  started_line="$service	$2	$3	$health	$ready"
  echo "  $service started: /health after $health s, all $3 $2 listed after $ready s"
}

rss_mb() { awk '/^VmRSS:/ {printf "%.1f", $2 / 1024}' "/proc/$1/status" 2>/dev/null || echo -; }

stop_service() { # SERVICE: records its RSS (and mongod's) with its startup times, and stops it
  local service=$1 mongod=- mongod_pid
  mongod_pid=$(stack_mongod_pid)
  [ -z "$mongod_pid" ] || mongod=$(rss_mb "$mongod_pid")
  printf '%s\t%s\t%s\n' "$started_line" "$(rss_mb "${service_pid[$service]}")" "$mongod" >>"$results/services.tsv"
  stack_stop_service "$service"
}

# Measures one route: a check request, a warm-up, then the run, appended to routes.tsv.
measure() { # SERVICE GROUP SIZE ROUTE CONNECTIONS PATHS_FILE SPEC [TOKEN]
  local url="http://127.0.0.1:${port[$1]}" paths=$6 first check out threads=2
  first=$(head -n 1 "$paths")
  check=$(python3 scripts/bench/catalog_report.py check "$url$first" "$7" "${8:-}")
  [ "$5" -ge 2 ] || threads=1
  runs=$((runs + 1))
  out="$results/wrk-$2-$3-$(printf '%02d' "$runs").txt"
  wrk -t"$threads" -c"$5" -d"${WARMUP_SECONDS}s" --timeout 15s -s scripts/bench/catalog.lua "$url" -- "$paths" "${8:-}" >/dev/null
  echo "$4 ($2 $3, $5 connections): GET $first" >"$out"
  wrk -t"$threads" -c"$5" -d"${seconds}s" --timeout 15s --latency -s scripts/bench/catalog.lua "$url" -- "$paths" "${8:-}" >>"$out"
  local result
  result=$(grep '^RESULT' "$out" | cut -f2-) || { echo "wrk gave no result; see $out" >&2; exit 1; }
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$2" "$4" "$3" "$5" "$result" "$check" "$first" >>"$results/routes.tsv"
  # requests non2xx errors seconds rps p50 p99
  read -r _ non2xx errors _ rps p50 p99 <<<"$result"
  printf '  %-22s %8s req/s  p50 %8s ms  p99 %8s ms  non-2xx %s  errors %s  %s\n' "$4" "$rps" "$p50" "$p99" "$non2xx" "$errors" "$check"
}
machine() { # what the figures depend on, into machine.txt
  echo "nproc: $(nproc)"
  echo "memory: $(awk '/^MemTotal:/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
  echo "cpu: $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
  if [ -n "$(stack_mongod_pid)" ]; then echo "mongodb: 6.0.5, single-node replica set on this machine"; else echo "mongodb: MONGO_URI"; fi
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$( [ -z "$(git status --porcelain -- common product-service order-service user-service Cargo.lock 2>/dev/null)" ] || echo ', with uncommitted changes')"
  echo "seconds per run: $seconds, connections: $CONNECTIONS"
  echo "sizes: ${sizes[*]}; orders: ${orders_sizes[*]:-none}"
}
machine >"$results/machine.txt"
echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$results/machine.txt"

runs=0
printf 'group\troute\tsize\tconnections\trequests\tnon2xx\terrors\tseconds\trps\tp50_ms\tp99_ms\tcheck\tpath\n' >"$results/routes.tsv"
printf 'service\tgroup\tsize\thealth_s\tready_s\trss_mb\tmongod_rss_mb\n' >"$results/services.tsv"

path_file() { # NAME PATH…: a file of paths for wrk
  printf '%s\n' "${@:2}" >"$work/$1.paths"
  echo "$work/$1.paths"
}

echo
echo "== Seeding ${sizes[0]} products =="
seed products "${sizes[0]}"

if [ ${#orders_sizes[@]} -gt 0 ]; then
  admin=$(seeder token "$(python3 -c 'import secrets; print(secrets.token_hex(12))')" admin)
  for count in "${orders_sizes[@]}"; do
    echo
    echo "== Orders: $count, wrk $CONNECTIONS connections, ${seconds} s per route =="
    seed orders "$count"
    buyer=$(seeder token "${seed[buyer]}" buyer)
    start_service order-service orders "${seed[orders]}" "/orders?limit=1" "${seed[orders]}" "$admin"
    measure order-service orders "$count" "admin, all" "$CONNECTIONS" \
      "$(path_file all "/orders?limit=20")" "total=${seed[orders]}" "$admin"
    measure order-service orders "$count" "admin, SHIPPED" "$CONNECTIONS" \
      "$(path_file shipped "/orders?status=SHIPPED&limit=20")" "total=${seed[shipped_total]};status==SHIPPED" "$admin"
    measure order-service orders "$count" "buyer's own" "$CONNECTIONS" \
      "$(path_file own "/orders?limit=20")" "total=${seed[buyer_total]};user_id==${seed[buyer]}" "$buyer"
    stop_service order-service
  done
fi

for size in "${sizes[@]}"; do
  echo
  echo "== Products: $size, wrk $CONNECTIONS connections, ${seconds} s per route =="
  seed products "$size"
  start_service product-service products "$size" "/products?limit=1" "${seed[products]}"
  q1=${seed[q1]} q10=${seed[q10]} category=${seed[category]} seller=${seed[seller]}
  price="min_price=${seed[min_price]}&max_price=${seed[max_price]}"
  measure product-service products "$size" "search 1%" "$CONNECTIONS" \
    "$(path_file q1 "/products?q=$q1&limit=20")" "total=${seed[q1_total]};name~$q1"
  measure product-service products "$size" "search 10%" "$CONNECTIONS" \
    "$(path_file q10 "/products?q=$q10&limit=20")" "total=${seed[q10_total]};name~$q10"
  measure product-service products "$size" "list, no filter" "$CONNECTIONS" \
    "$(path_file all "/products?limit=20")" "total=${seed[products]}"
  measure product-service products "$size" "category" "$CONNECTIONS" \
    "$(path_file category "/products?category=$category&limit=20")" "total=${seed[category_total]};category==$category"
  measure product-service products "$size" "seller" "$CONNECTIONS" \
    "$(path_file seller "/products?seller_id=$seller&limit=20")" "total=${seed[seller_total]};seller_id==$seller"
  measure product-service products "$size" "price range, by price" "$CONNECTIONS" \
    "$(path_file price "/products?$price&sort=price&limit=20")" \
    "total=${seed[price_total]};price=${seed[min_price]}..${seed[max_price]};sorted=price"
  measure product-service products "$size" "categories" "$CONNECTIONS" \
    "$(path_file categories "/categories")" "count=${seed[categories_total]};sum:product_count=${seed[products]}"
  # Low stock from the read model: an admin's scans every product, a seller's only their own.
  admin=${admin:-$(seeder token "$(python3 -c 'import secrets; print(secrets.token_hex(12))')" admin)}
  measure product-service products "$size" "inventory, admin" "$CONNECTIONS" \
    "$(path_file inventory "/inventory?below=10&limit=20")" "stock=0..10;sorted=stock" "$admin"
  measure product-service products "$size" "inventory, seller" "$CONNECTIONS" \
    "$(path_file inventory "/inventory?below=10&limit=20")" "stock=0..10;sorted=stock;seller_id==$seller" \
    "$(seeder token "$seller" seller)"
  mapfile -t by_id < <(sed 's|^|/products/|' "$work/product_ids.txt")
  first_id=${by_id[0]#/products/}
  measure product-service products "$size" "by id (1000 ids)" "$CONNECTIONS" \
    "$(path_file by_id "${by_id[@]}")" "id==$first_id"
  measure product-service products "$size" "search 1%, 1 conn" 1 \
    "$(path_file q1 "/products?q=$q1&limit=20")" "total=${seed[q1_total]};name~$q1"
  # 1000 different model-code searches taken in turn: more than the service's result cache holds,
  # so every one scans the names afresh (the cost of a search nobody made a moment ago).
  mapfile -t cold < <(python3 -c 'import random; r = random.Random(7); print("\n".join(f"/products?q=-{n}&limit=20" for n in r.sample(range(10, 10000), 1000)))')
  cold_term=${cold[0]#/products?q=}
  cold_term=${cold_term%&limit=20}
  measure product-service products "$size" "search, 1000 terms" "$CONNECTIONS" \
    "$(path_file cold "${cold[@]}")" "name~$cold_term"
  measure product-service products "$size" "search, 1000 terms, 1 conn" 1 \
    "$(path_file cold "${cold[@]}")" "name~$cold_term"
  stop_service product-service
done

echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$results/machine.txt"
echo
cat "$results/machine.txt"
echo
python3 scripts/bench/catalog_report.py print "$results"
echo
echo "Raw results: $results/routes.tsv and $results/services.tsv (wrk outputs and logs beside them)"
