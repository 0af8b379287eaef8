#!/usr/bin/env bash
# MongoDB failing over under load, for real: builds the services (debug), starts three mongod
# processes (scripts/mongodb.sh's binary) on free loopback ports as one replica set (rsF, the
# first member primary at start), one user service, two product-service and two order-service
# replicas on it, all in a temporary folder, and runs scripts/failover_walk.py: 24 clients order
# (hot products, two lines, idempotency keys), check out (paid by signed provider events or left
# to expire), cancel, log in, read and search, spread over the replicas, while the primary is
# stepped down (replSetStepDown) and, 20 s later, the then-primary's mongod is killed with SIGKILL
# and started again 10 s after. Then it checks every answer (within 2 s; 2xx, 409 or 503; no socket
# error), that the catalog of both product-service replicas follows a product created after the
# failover within 2 s, and, once the order service's passes have settled, the stock invariant,
# the idempotency keys, the checkouts past their deadline and each order's events; and prints the
# figures RELIABILITY.md quotes. Everything it started is stopped on exit; it ends with PASS or
# FAIL and exits non-zero on failure. About 1 minute 40 s once the services are built.
#
#   scripts/failover-test.sh
#
# FAILOVER_TEST_KEEP=1 keeps the temporary folder (the services' and mongods' logs); it is kept
# anyway on failure. FAILOVER_CLIENTS (24) and FAILOVER_AFTER (15, the seconds of load after the
# restart) scale the run. Needs Python 3 and a Rust toolchain; MONGO_URI is ignored (this suite
# needs replica set members of its own to step down and kill).
set -euo pipefail
cd "$(dirname "$0")/.."
readonly started_at=$SECONDS
log() { echo "failover-test: $*" >&2; }
# shellcheck source=scripts/lib/tools.sh
. scripts/lib/tools.sh
# shellcheck source=scripts/lib/stack.sh
. scripts/lib/stack.sh

unset MONGO_URI
STACK_KEEP=${FAILOVER_TEST_KEEP:-}
readonly REPLICA_SET=rsF
pymongo_dir=$(tools_install mongodb)
mongod=$(scripts/mongodb.sh install)
stack_build debug
stack_init failover-test

# Each member is started by a script of its own, so that the walk restarts a killed member with
# exactly the command it first ran with. --fork returns once the member accepts connections. A
# member told to stop (SIGTERM, at the end) would first wait 15 s for clients to move away; the
# services are gone by then.
members=() ports=()
for i in 0 1 2; do
  port=$(free_port)
  dbpath="$stack_tmp/rs/$i"
  mkdir -p "$dbpath"
  cat >"$stack_tmp/rs/start-$i" <<EOF
#!/bin/sh
exec "$mongod" --replSet $REPLICA_SET --port $port --bind_ip 127.0.0.1 --dbpath "$dbpath" \\
  --wiredTigerCacheSizeGB 0.25 --wiredTigerEngineConfigString 'log=(prealloc=false,file_max=10MB)' \\
  --setParameter diagnosticDataCollectionEnabled=false --setParameter shutdownTimeoutMillisForSignaledShutdown=500 \\
  --fork --logpath "$dbpath/mongod.log" --logappend --pidfilepath "$dbpath/mongod.pid" >/dev/null
EOF
  chmod +x "$stack_tmp/rs/start-$i"
  stack_track_mongod "$dbpath"
  if ! "$stack_tmp/rs/start-$i"; then
    tail -n 20 "$dbpath/mongod.log" >&2 || true
    log "mongod $i did not start on port $port"
    exit 1
  fi
  ports+=("$port")
  members+=("$port:$dbpath:$stack_tmp/rs/start-$i")
done
log "three mongods on ports ${ports[*]}"
PYTHONPATH="$pymongo_dir" python3 scripts/failover_walk.py initiate --set "$REPLICA_SET" \
  --ports "$(IFS=,; echo "${ports[*]}")"
MONGO_URI="mongodb://$(printf '127.0.0.1:%s,' "${ports[@]}" | sed 's/,$//')/?replicaSet=$REPLICA_SET"
export MONGO_URI

stack_database
stack_service_env
# Checkouts expire during the run; a request's deadline of 2 s and a recovery grace of three
# of them let the recovery pass settle within the run. The clients all come from 127.0.0.1: no
# rate limit applies to them.
export CHECKOUT_HOLD_SECS=5 REQUEST_TIMEOUT_SECS=2 ORDER_RECOVERY_GRACE_SECS=6 \
  RATE_LIMIT_PER_MINUTE=1000000 RATE_LIMIT_BURST=1000000
PAYMENT_WEBHOOK_SECRET="whsec_$(python3 -c 'import base64, os; print(base64.b64encode(os.urandom(24)).decode())')"
export PAYMENT_WEBHOOK_SECRET
stack_start_service user-service
stack_start_service product-service
stack_start_replica product-service product-service-2
stack_start_service order-service
stack_start_replica order-service order-service-2
stack_wait_ready
log "services on users ${service_port[user-service]}, products ${service_port[product-service]} and ${service_port[product-service-2]}, orders ${service_port[order-service]} and ${service_port[order-service-2]}"

status=0
PYTHONPATH="$pymongo_dir" python3 -u scripts/failover_walk.py run --mongo-uri "$MONGO_URI" --db-name "$DB_NAME" \
  --users "${service_url[user-service]}" \
  --products "${service_url[product-service]},${service_url[product-service-2]}" \
  --orders "${service_url[order-service]},${service_url[order-service-2]}" \
  --members "$(IFS=,; echo "${members[*]}")" --logs "$stack_tmp" \
  --clients "${FAILOVER_CLIENTS:-24}" --after "${FAILOVER_AFTER:-15}" || status=1

for name in "${!service_pid[@]}"; do
  if ! stack_running "${service_pid[$name]}"; then
    log "FAIL: $name exited during the run"
    status=1
  fi
done

elapsed=$((SECONDS - started_at))
echo
if [ "$status" = 0 ]; then
  echo "PASS: the services came through a step-down and a SIGKILL of the primary (${elapsed} s)"
else
  STACK_KEEP=1
  echo "FAIL: see the checks marked FAIL above; logs in $stack_tmp (${elapsed} s)"
fi
exit "$status"
