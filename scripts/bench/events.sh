#!/usr/bin/env bash
# What events and webhooks cost, measured on this machine against a throwaway MongoDB replica set:
#
# 1. the cost of recording: POST /orders with wrk, 32 connections, on one hot product and on 1000
#    products, with 0, 1 and 10 subscriptions to every event (["*"]), each to a receiver of its
#    own (scripts/bench/events_receiver.py, a process per receiver, answering 204). After each run
#    the script waits until every event of the run has been delivered and prints how many arrived
#    during the run, when the relay and the dispatcher had caught up (every event out of its
#    order's outbox and made into deliveries) and when the last delivery arrived, so a run never
#    pays for the previous one's backlog. For each phase it also prints how busy the cores were,
#    and how much of that was not this benchmark (the machine may be shared);
# 2. the end-to-end latency at a steady rate (LATENCY_RATE orders/s, default 100, for
#    LATENCY_SECONDS, default 20, one subscription): from the arrival of each order's 201 to the
#    arrival of its order.placed at the receiver. Not from `occurred_at`, which has only second
#    precision; the order is committed before its 201 is sent, so this under-counts by the time
#    the 201 takes to reach the client (about a millisecond);
# 3. a backlog: the receiver is stopped (its port closed: connections refused) while orders arrive
#    at DOWN_RATE a second (default 50) for DOWN seconds, then it comes back on the same port: how
#    many deliveries were pending, how long until the first and the last of them arrived, and the
#    rate in between; and, from the API, how many attempts each delivery took (the retries while
#    the receiver was down) and how long the attempt that delivered took;
# 4. that every subscription got every event exactly once (the events since it was created, its
#    DELIVERED count in the API and the distinct webhook-ids its receiver recorded), and the stock
#    invariant (scripts/bench/check.py).
#
#   scripts/bench/events.sh [seconds per run, default 10] [DOWN seconds, default 600]
#
# The figures are the `RESULT` lines; `CHECK` lines say what was verified, and `PROBLEM` lines (also
# listed again at the end, which then fails) what was not as it should be. Takes about 25 minutes
# with the defaults (the outage 10, the deliveries of each 10-subscription run about 2) after the
# build. Needs wrk (installed with apt-get when missing, as root). MONGO_URI, if set, is
# used instead of a throwaway server, and the run's database is dropped at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
readonly SECONDS_PER_RUN=${1:-10}
readonly DOWN=${2:-${DOWN_SECONDS:-600}}
readonly DOWN_RATE=${DOWN_RATE:-50}
readonly LATENCY_RATE=${LATENCY_RATE:-100}
readonly LATENCY_SECONDS=${LATENCY_SECONDS:-20}
readonly CONNECTIONS=32
readonly RECEIVERS=10
log() { echo "events.sh: $*" >&2; }
# shellcheck source=scripts/lib/tools.sh
. scripts/lib/tools.sh
# shellcheck source=scripts/lib/stack.sh
. scripts/lib/stack.sh

tools_debian wrk:wrk
pymongo=$(tools_install mongodb)
stack_build release -q

stack_init ecommerce-bench-events
work=$stack_tmp
stack_start_mongodb
stack_database
stack_service_env
# Receivers on 127.0.0.1 over plain http; tokens that outlive a long DOWN (the default is 30 min).
export RUST_LOG=warn WEBHOOK_ALLOW_HTTP=true WEBHOOK_ALLOW_PRIVATE=true ACCESS_TOKEN_EXPIRE_MINUTES=1440
stack_start_services
stack_wait_ready
users=${service_url[user-service]}
products=${service_url[product-service]}
orders=${service_url[order-service]}
token=$(python3 scripts/bench/setup.py "$users" "$products" "$work")
export EVENTS_ORDERS=$orders EVENTS_BUYER=$token EVENTS_WORK=$work EVENTS_ADMIN
EVENTS_ADMIN=$(python3 scripts/bench/events_bench.py admin "$users")
bench() { PYTHONPATH="$pymongo" python3 scripts/bench/events_bench.py "$@"; }

commit="not a git checkout"
if git rev-parse --git-dir >/dev/null 2>&1; then
  commit="commit $(git rev-parse --short HEAD)"
  git diff --quiet HEAD || commit="$commit with uncommitted changes"
fi
echo "machine: $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB," \
  "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1); $commit;" \
  "load average at the start $(cut -d' ' -f1-3 /proc/loadavg)"

declare -A receiver_pid receiver_port webhook
# A receiver process per subscription, on a port it keeps when restarted; waits until it listens.
start_receiver() { # N RECORDS
  [ -n "${receiver_port[$1]:-}" ] || receiver_port[$1]=$(free_port)
  python3 scripts/bench/events_receiver.py "${receiver_port[$1]}" "$2" &
  receiver_pid[$1]=$!
  stack_track "$!"
  for _ in $(seq 1 100); do
    grep -q '^# listening' "$2" 2>/dev/null && return 0
    sleep 0.1
  done
  log "receiver $1 did not start"
  return 1
}
for n in $(seq 1 "$RECEIVERS"); do start_receiver "$n" "$work/receiver-$n.txt"; done

# The machine is shared: sets the variable named VARIABLE to a mark of the CPU time used so far,
# all of it and this benchmark's (MongoDB, the services, the receivers, and what this shell ran
# and waited for: wrk, the load generator), so that `cpu-between` can say how much of the cores
# others took during a phase. `times` runs in this shell, into a file: in a subshell (a pipe, a
# command substitution) it would count none of this shell's children.
cpu_mark() { # VARIABLE
  local mongod pids=("${service_pid[@]}" "${receiver_pid[@]}")
  times >"$work/times"
  mongod=$(stack_mongod_pid)
  [ -z "$mongod" ] || pids+=("$mongod")
  printf -v "$1" '%s' "$(bench cpu "$(sed -n 2p "$work/times")" "${pids[@]}")"
}

run_wrk() { # SUBSCRIPTIONS LABEL PRODUCTS
  local start end mark after
  echo
  echo "== $1 subscriptions, $2: wrk, $CONNECTIONS connections, ${SECONDS_PER_RUN} s =="
  cpu_mark mark
  start=$(date +%s.%N)
  wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" --latency -s scripts/bench/order.lua \
    "$orders" -- "$token" "$work/$3.txt" | grep -E '^RESULT|Non-2xx' |
    sed "s/^RESULT /RESULT wrk subscriptions=$1 products=$3 /"
  end=$(date +%s.%N)
  cpu_mark after
  bench cpu-between "subscriptions=$1 products=$3" "$mark" "$after"
  bench settle "subscriptions=$1 products=$3" "$start" "$end"
}

subscribed=0
for subscriptions in 0 1 "$RECEIVERS"; do
  while [ "$subscribed" -lt "$subscriptions" ]; do
    subscribed=$((subscribed + 1))
    webhook[$subscribed]=$(bench subscribe "http://127.0.0.1:${receiver_port[$subscribed]}/hook/$subscribed")
  done
  run_wrk "$subscriptions" "one product" hot
  run_wrk "$subscriptions" "1000 products" many
done

# From here on one subscription: the others and their receivers go.
for n in $(seq 2 "$RECEIVERS"); do
  bench unsubscribe "${webhook[$n]}"
  stack_end "${receiver_pid[$n]}"
  unset "receiver_pid[$n]"
done

echo
echo "== Latency: $LATENCY_RATE orders/s for $LATENCY_SECONDS s, 1 subscription =="
cpu_mark mark
bench place "$LATENCY_RATE" "$LATENCY_SECONDS" "$work/latency-orders.txt"
cpu_mark after
bench cpu-between latency "$mark" "$after"
bench latency "$work/receiver-1.txt" "$work/latency-orders.txt"
bench attempts latency "${webhook[1]}" "$work/receiver-1.txt" "$work/latency-orders.txt"
bench verify

echo
echo "== Backlog: the receiver down for $DOWN s while $DOWN_RATE orders/s arrive, then back =="
down_at=$(date +%s.%N)
stack_end "${receiver_pid[1]}"
unset 'receiver_pid[1]'
cpu_mark mark
bench place "$DOWN_RATE" "$DOWN" "$work/down-orders.txt"
cpu_mark after
bench cpu-between "receiver down" "$mark" "$after"
pending=$(bench pending "${webhook[1]}")
start_receiver 1 "$work/receiver-1-back.txt"
cpu_mark mark
bench drain "${webhook[1]}" "$work/receiver-1-back.txt" "$work/down-orders.txt" "$pending" "$down_at"
cpu_mark after
bench cpu-between drain "$mark" "$after"
bench attempts backlog "${webhook[1]}" "$work/receiver-1-back.txt" "$work/down-orders.txt"
bench verify

echo
python3 scripts/bench/check.py "$products" "$orders" "$token" "$work"
echo "load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
if [ -s "$work/problems.txt" ]; then
  echo
  echo "PROBLEMS:"
  cat "$work/problems.txt"
  exit 1
fi
