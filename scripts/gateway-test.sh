#!/usr/bin/env bash
# Tests the nginx gateway (deploy/nginx/gateway.conf.template) for real: builds the services
# (debug), starts a throwaway MongoDB (or uses MONGO_URI, with a database of its own), the three
# services and nginx on free ports, all in a temporary folder, then walks the API through the
# gateway's /api routes only (scripts/gateway_walk.py): a seller, a buyer, a product, a search,
# an order placed, read, listed and cancelled; request ids end to end; the services' errors
# passed through and the gateway's own in the API's error shape; rate limits keyed by the
# client's address behind the proxy; every service's Swagger UI and OpenAPI document. Finally it
# freezes the product service and expects 504, then stops the order service and expects 502, both
# in the error shape. Everything it started is stopped on exit; it ends with PASS or FAIL and
# exits non-zero on failure. About 30 s once the services are built.
#
#   scripts/gateway-test.sh
#
# Needs nginx and envsubst (apt-get installs them when missing and this runs as root), Python 3
# and a Rust toolchain. GATEWAY_TEST_KEEP=1 keeps the temporary folder (logs, nginx.conf).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench/lib.sh
. scripts/bench/lib.sh
readonly started_at=$SECONDS
readonly SERVICES=(user-service product-service order-service)

log() { echo "gateway-test: $*" >&2; }

ensure_nginx() {
  local missing=()
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
  command -v envsubst >/dev/null || missing+=(gettext-base)
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing ${missing[*]} with apt-get"
    # Debian's package would start a system nginx on port 80; policy-rc.d (exit 101) in
    # containers prevents that, and this script never uses it.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 || {
      apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    }
  else
    log "nginx and envsubst are needed: sudo apt-get install ${missing[*]}"
    exit 1
  fi
}

ensure_nginx
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

log "building the services (debug)"
cargo build --workspace --locked
bin="$(cd "${CARGO_TARGET_DIR:-target}/debug" && pwd)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gateway-test.XXXXXX")
pids=()
nginx_pid=''
started_mongodb=''
drop_db=''
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  [ -n "$nginx_pid" ] && kill -TERM "$nginx_pid" 2>/dev/null || true
  for pid in "${pids[@]}"; do
    kill -CONT "$pid" 2>/dev/null || true
    kill -TERM "$pid" 2>/dev/null || true
  done
  [ -n "$nginx_pid" ] && wait "$nginx_pid" 2>/dev/null || true
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if [ -n "$started_mongodb" ]; then
    scripts/mongodb.sh stop --dbpath "$tmp/mongodb" || true
  fi
  if [ -n "$drop_db" ]; then
    drop_database || log "could not drop the database $DB_NAME on MONGO_URI"
  fi
  if [ "${GATEWAY_TEST_KEEP:-}" = 1 ]; then
    log "kept $tmp"
  else
    rm -rf "$tmp"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# On a MONGO_URI of the user's, the test's database is dropped at the end with pymongo (the one
# scripts/mongodb.sh installs into its cache).
drop_database() {
  local cache="${MONGODB_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ecommerce-rs/mongodb-6.0.5}"
  [ -d "$cache/py/pymongo" ] || return 1
  PYTHONPATH="$cache/py" python3 -c 'import os, pymongo
pymongo.MongoClient(os.environ["MONGO_URI"], serverSelectionTimeoutMS=5000).drop_database(os.environ["DB_NAME"])'
}

if [ -n "${MONGO_URI:-}" ]; then
  DB_NAME="gateway_test_$(python3 -c 'import secrets; print(secrets.token_hex(6))')"
  drop_db=1
  log "using MONGO_URI, database $DB_NAME"
else
  log "starting MongoDB"
  MONGO_URI=$(scripts/mongodb.sh start --port "$(free_port)" --dbpath "$tmp/mongodb")
  started_mongodb=1
  DB_NAME=gateway_test
fi
export MONGO_URI DB_NAME

# The services run from the temporary folder, so that no .env of the repository changes them.
# RATE_LIMIT_BURST leaves room for the walk's own logins from one address.
export JWT_SECRET
JWT_SECRET=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
export BCRYPT_COST=4 TRUSTED_PROXY_HEADER=X-Forwarded-For RATE_LIMIT_BURST=10 RATE_LIMIT_PER_MINUTE=30
export ADMIN_EMAIL="admin-gateway@example.com" ADMIN_PASSWORD
ADMIN_PASSWORD=$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')
export HOST=127.0.0.1 LOG_FORMAT=json RUST_LOG=info CORS_ORIGINS=''
declare -A service_pid
upstreams=()
for name in "${SERVICES[@]}"; do
  port=$(free_port)
  (cd "$tmp" && PORT=$port exec "$bin/$name" >"$tmp/$name.log" 2>&1) &
  pids+=($!)
  service_pid[$name]=$!
  upstreams+=("127.0.0.1:$port")
done

export GATEWAY_PORT USER_SERVICE_UPSTREAM=${upstreams[0]} PRODUCT_SERVICE_UPSTREAM=${upstreams[1]} \
  ORDER_SERVICE_UPSTREAM=${upstreams[2]}
GATEWAY_PORT=$(free_port)
mkdir -p "$tmp/nginx/temp"
# shellcheck disable=SC2016 # the variable names are for envsubst, not for the shell
envsubst '${GATEWAY_PORT} ${USER_SERVICE_UPSTREAM} ${PRODUCT_SERVICE_UPSTREAM} ${ORDER_SERVICE_UPSTREAM}' \
  <deploy/nginx/gateway.conf.template >"$tmp/nginx/gateway.conf"
# The official nginx image substitutes every variable defined in its environment, not only these
# four: the template must come out the same that way, and write no other variable with braces.
status=0
# shellcheck disable=SC2016
braced=$(grep -o '\${[A-Za-z0-9_]*}' deploy/nginx/gateway.conf.template | LC_ALL=C sort -u | tr '\n' ' ')
if [ "$braced" != '${GATEWAY_PORT} ${ORDER_SERVICE_UPSTREAM} ${PRODUCT_SERVICE_UPSTREAM} ${USER_SERVICE_UPSTREAM} ' ]; then
  log "FAIL: the template writes these variables with braces: $braced"
  status=1
fi
# shellcheck disable=SC2016
every_variable=$(awk 'END { for (name in ENVIRON) printf "${%s} ", name }' </dev/null)
if ! envsubst "$every_variable" <deploy/nginx/gateway.conf.template | cmp -s - "$tmp/nginx/gateway.conf"; then
  log "FAIL: the template renders differently when every environment variable is substituted"
  status=1
fi
# As root, nginx would hand its workers to "nobody", which cannot enter the private folder.
user_line=''
[ "$(id -u)" = 0 ] && user_line="user $(id -un) $(id -gn);"
cat >"$tmp/nginx/nginx.conf" <<EOF
$user_line
worker_processes 1;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 512; }
http {
    default_type application/octet-stream;
    client_body_temp_path $tmp/nginx/temp/body;
    proxy_temp_path $tmp/nginx/temp/proxy;
    fastcgi_temp_path $tmp/nginx/temp/fastcgi;
    uwsgi_temp_path $tmp/nginx/temp/uwsgi;
    scgi_temp_path $tmp/nginx/temp/scgi;
    include $tmp/nginx/gateway.conf;
    access_log $tmp/nginx/access.log gateway;
}
EOF
nginx_args=(-p "$tmp/nginx/" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log")
"$NGINX" "${nginx_args[@]}" -t -q
"$NGINX" "${nginx_args[@]}" -g 'daemon off;' &
nginx_pid=$!
gateway="http://127.0.0.1:$GATEWAY_PORT"

# Ready once every service answers its database health through the gateway.
ready() {
  local prefix
  for prefix in users products orders; do
    curl -fsS -o /dev/null "$gateway/api/$prefix/health/db" 2>/dev/null || return 1
  done
}
for _ in $(seq 1 150); do
  ready && break
  for pid in "${pids[@]}" "$nginx_pid"; do
    kill -0 "$pid" 2>/dev/null || { log "a process exited at startup; logs in $tmp"; tail -n 5 "$tmp"/*.log "$tmp/nginx/error.log" >&2 || true; GATEWAY_TEST_KEEP=1; exit 1; }
  done
  sleep 0.2
done
ready || { log "the services did not become ready through the gateway"; GATEWAY_TEST_KEEP=1; exit 1; }
log "gateway on $gateway (users ${upstreams[0]}, products ${upstreams[1]}, orders ${upstreams[2]})"

python3 scripts/gateway_walk.py walk --base "$gateway" --admin-email "$ADMIN_EMAIL" \
  --admin-password "$ADMIN_PASSWORD" --db-name "$DB_NAME" --logs "$tmp" || status=1

# A frozen service (SIGSTOP: connections are accepted, nothing answers) is the gateway's 504 after
# its read timeout (15 s).
kill -STOP "${service_pid[product-service]}"
python3 scripts/gateway_walk.py stalled --base "$gateway" --service products || status=1
kill -CONT "${service_pid[product-service]}"
python3 scripts/gateway_walk.py healthy --base "$gateway" || status=1

kill -TERM "${service_pid[order-service]}"
wait "${service_pid[order-service]}" 2>/dev/null || true
python3 scripts/gateway_walk.py down --base "$gateway" --service orders || status=1

if grep -q '\[\(emerg\|alert\|crit\)\]' "$tmp/nginx/error.log"; then
  log "nginx logged errors:"
  grep '\[\(emerg\|alert\|crit\)\]' "$tmp/nginx/error.log" >&2
  status=1
fi

elapsed=$((SECONDS - started_at))
echo
if [ "$status" = 0 ]; then
  echo "PASS: the gateway routes, passes and refuses as it should (${elapsed} s)"
else
  GATEWAY_TEST_KEEP=1
  echo "FAIL: see the checks marked FAIL above; logs in $tmp (${elapsed} s)"
fi
exit "$status"
