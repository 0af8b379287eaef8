# Shared by the benchmark scripts: source it from the repository root.

# Installs wrk with apt-get when it is missing and this runs as root; otherwise says what to do.
ensure_wrk() {
  command -v wrk >/dev/null && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get install -y -qq wrk >/dev/null; }
  else
    echo "wrk is needed: apt-get install wrk" >&2
    exit 1
  fi
}

# A TCP port that is free on loopback right now.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# pymongo, installed beside mongod by scripts/mongodb.sh, for dropping a run's database.
readonly PYMONGO_PATH="${MONGODB_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ecommerce-rs/mongodb-6.0.5}/py"

# Drops database $2 on the MongoDB at $1, with pymongo.
drop_database() {
  [ -d "$PYMONGO_PATH/pymongo" ] || scripts/mongodb.sh install >/dev/null || return 1
  PYTHONPATH="$PYMONGO_PATH" python3 -c 'import sys, pymongo
pymongo.MongoClient(sys.argv[1], serverSelectionTimeoutMS=5000).drop_database(sys.argv[2])' "$1" "$2"
}

# Stops what a run started: every service in the associative array `pid`, then its own MongoDB
# (`own_mongo`, data in "$work/mongodb") or, on a MongoDB the caller named, only the database
# the run made (`run_db`), never another; finally removes "$work". For `trap run_cleanup EXIT`.
run_cleanup() {
  local service
  for service in "${!pid[@]}"; do kill "${pid[$service]}" 2>/dev/null || true; done
  for service in "${!pid[@]}"; do wait "${pid[$service]}" 2>/dev/null || true; done
  if [ -n "${own_mongo:-}" ]; then
    scripts/mongodb.sh stop --dbpath "$work/mongodb" || true
  elif [ -n "${run_db:-}" ]; then
    drop_database "$MONGO_URI" "$run_db" || true
  fi
  rm -rf "$work"
}
