#!/usr/bin/env bash
# Where the time of a flash sale goes: wrk on one hot product against the three services of this
# tree (release) and a throwaway MongoDB replica set, ROUNDS runs of SECONDS each, and for each run
# the orders per second, the share of a core each process used (mongod, each service, wrk), and
# the MongoDB operations that took the most server time (the `top` command's totals, per
# collection and kind of operation, for the run), plus the change streams open. It measures what
# a change costs before it is made: the figures in BENCHMARKS.md's "What got there" came from it.
#
#   scripts/bench/where_time_goes.sh [seconds, default 10] [connections, default 32] [rounds, default 3]
#
# Needs wrk (installed with apt-get when missing, as root). MONGO_URI is ignored: the CPU of the
# server is read from its process, so the server is always one started here.
set -euo pipefail
cd "$(dirname "$0")/../.."
readonly SECONDS_PER_RUN=${1:-10} CONNECTIONS=${2:-32} ROUNDS=${3:-3}
log() { echo "where_time_goes.sh: $*" >&2; }
# shellcheck source=scripts/lib/tools.sh
. scripts/lib/tools.sh
# shellcheck source=scripts/lib/stack.sh
. scripts/lib/stack.sh

unset MONGO_URI
tools_debian wrk:wrk
pymongo=$(tools_install mongodb)
stack_build release -q
stack_init ecommerce-bench-time
work=$stack_tmp
stack_start_mongodb
stack_database
stack_service_env
export RUST_LOG=warn
stack_start_services
stack_wait_ready
token=$(python3 scripts/bench/setup.py "${service_url[user-service]}" "${service_url[product-service]}" "$work")

# Clock ticks of CPU (user + system) a process used so far.
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
declare -A pid=([mongod]=$(stack_mongod_pid))
for name in "${STACK_SERVICES[@]}"; do pid[$name]=${service_pid[$name]}; done
server_top() { # FILE
  PYTHONPATH="$pymongo" python3 scripts/bench/server_top.py "$MONGO_URI" "$DB_NAME" "$1"
}

for round in $(seq "$ROUNDS"); do
  declare -A before=()
  for name in "${!pid[@]}"; do before[$name]=$(ticks "${pid[$name]}"); done
  rm -f "$work/top.json"
  server_top "$work/top.json"
  started=$(date +%s.%N)
  wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" --latency -s scripts/bench/order.lua \
    "${service_url[order-service]}" -- "$token" "$work/hot.txt" >"$work/wrk.txt" &
  wrk_pid=$!
  sleep 0.2
  wrk_before=$(ticks "$wrk_pid")
  wrk_after=$wrk_before
  while kill -0 "$wrk_pid" 2>/dev/null; do
    wrk_after=$(ticks "$wrk_pid" 2>/dev/null || echo "$wrk_after")
    sleep 0.2
  done
  wait "$wrk_pid"
  ended=$(date +%s.%N)
  echo "== round $round: $CONNECTIONS connections, ${SECONDS_PER_RUN} s =="
  sed -n 's/^RESULT/RESULT round='"$round"'/p' "$work/wrk.txt"
  hz=$(getconf CLK_TCK)
  for name in mongod "${STACK_SERVICES[@]}"; do
    python3 -c "print(f'RESULT round=$round process=$name cores={($(ticks "${pid[$name]}") - ${before[$name]}) / $hz / ($ended - $started):.2f}')"
  done
  python3 -c "print(f'RESULT round=$round process=wrk cores={($wrk_after - $wrk_before) / $hz / ($ended - $started):.2f} (at least)')"
  server_top "$work/top.json"
  sleep 2
done
