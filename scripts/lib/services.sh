# Shared by scripts/gateway-test.sh and scripts/browser-test.sh: source it from the repository root
# (after scripts/bench/lib.sh, for free_port) and define `log` first. It runs the whole stack on
# free loopback ports, everything in one temporary folder ($stack_tmp):
#
#   ensure_nginx              installs nginx and envsubst with apt-get when missing (as root)
#   stack_init PREFIX         makes the temporary folder; PREFIX names it and the database
#   stack_start_mongodb       a throwaway MongoDB in the folder, or, when MONGO_URI is set, a
#                             database of its own there (dropped by stack_stop); exports both
#   stack_service_env         the services' settings for a test (JWT_SECRET, BCRYPT_COST=4, an
#                             admin account, trusted X-Forwarded-For, JSON logs); export more after
#   stack_start_services BIN  the three services from BIN (a cargo target folder); their logs are
#                             $stack_tmp/<service>.log, their pids in service_pid[<service>]
#   stack_start_gateway       nginx with deploy/nginx/gateway.conf.template, serving web/ at /;
#                             its address in $gateway
#   stack_wait_ready          until every service answers /health/db through the gateway
#   stack_stop                stops everything started, drops the database on MONGO_URI, removes
#                             the folder unless STACK_KEEP=1 (call it from an EXIT trap)

# shellcheck disable=SC2034 # the variables are for the scripts that source this file

readonly STACK_SERVICES=(user-service product-service order-service)
stack_tmp=''
stack_pids=()
declare -A service_pid
upstreams=()
nginx_pid=''
gateway=''
started_mongodb=''
drop_db=''

ensure_nginx() {
  local missing=()
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
  command -v envsubst >/dev/null || missing+=(gettext-base)
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing ${missing[*]} with apt-get"
    # Debian's package would start a system nginx on port 80; policy-rc.d (exit 101) in
    # containers prevents that, and these scripts never use it.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 || {
      apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    }
  else
    log "nginx and envsubst are needed: sudo apt-get install ${missing[*]}"
    exit 1
  fi
}

stack_init() {
  stack_prefix=$1
  stack_tmp=$(mktemp -d "${TMPDIR:-/tmp}/$stack_prefix.XXXXXX")
}

# On a MONGO_URI of the user's, the database is dropped at the end (drop_database, from
# scripts/bench/lib.sh, which every script using this file sources).
stack_drop_database() {
  drop_database "$MONGO_URI" "$DB_NAME"
}

stack_start_mongodb() {
  local db=${stack_prefix//-/_}
  if [ -n "${MONGO_URI:-}" ]; then
    DB_NAME="${db}_$(python3 -c 'import secrets; print(secrets.token_hex(6))')"
    drop_db=1
    log "using MONGO_URI, database $DB_NAME"
  else
    log "starting MongoDB"
    MONGO_URI=$(scripts/mongodb.sh start --port "$(free_port)" --dbpath "$stack_tmp/mongodb")
    started_mongodb=1
    DB_NAME=$db
  fi
  export MONGO_URI DB_NAME
}

stack_service_env() {
  export JWT_SECRET ADMIN_PASSWORD
  JWT_SECRET=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
  ADMIN_PASSWORD=$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')
  export ADMIN_EMAIL="admin-$stack_prefix@example.com"
  export BCRYPT_COST=4 TRUSTED_PROXY_HEADER=X-Forwarded-For
  export HOST=127.0.0.1 LOG_FORMAT=json RUST_LOG=info CORS_ORIGINS=''
}

# The services run from the temporary folder, so that no .env of the repository changes them.
stack_start_services() {
  local bin=$1 name port
  for name in "${STACK_SERVICES[@]}"; do
    port=$(free_port)
    (cd "$stack_tmp" && PORT=$port exec "$bin/$name" >"$stack_tmp/$name.log" 2>&1) &
    stack_pids+=($!)
    service_pid[$name]=$!
    upstreams+=("127.0.0.1:$port")
  done
}

# The template's variables, for envsubst: no other ${...} of the template is touched.
# shellcheck disable=SC2016
readonly GATEWAY_TEMPLATE_VARIABLES='${GATEWAY_PORT} ${ORDER_SERVICE_UPSTREAM} ${PRODUCT_SERVICE_UPSTREAM} ${USER_SERVICE_UPSTREAM} ${WEB_ROOT}'

stack_start_gateway() {
  local nginx
  nginx=$(command -v nginx || echo /usr/sbin/nginx)
  export GATEWAY_PORT USER_SERVICE_UPSTREAM=${upstreams[0]} PRODUCT_SERVICE_UPSTREAM=${upstreams[1]} \
    ORDER_SERVICE_UPSTREAM=${upstreams[2]} WEB_ROOT="$PWD/web"
  GATEWAY_PORT=$(free_port)
  mkdir -p "$stack_tmp/nginx/temp"
  envsubst "$GATEWAY_TEMPLATE_VARIABLES" <deploy/nginx/gateway.conf.template >"$stack_tmp/nginx/gateway.conf"
  # As root, nginx would hand its workers to "nobody", which cannot enter the private folder.
  local user_line=''
  [ "$(id -u)" = 0 ] && user_line="user $(id -un) $(id -gn);"
  cat >"$stack_tmp/nginx/nginx.conf" <<EOF
$user_line
worker_processes 1;
pid $stack_tmp/nginx/nginx.pid;
error_log $stack_tmp/nginx/error.log warn;
events { worker_connections 512; }
http {
    default_type application/octet-stream;
    client_body_temp_path $stack_tmp/nginx/temp/body;
    proxy_temp_path $stack_tmp/nginx/temp/proxy;
    fastcgi_temp_path $stack_tmp/nginx/temp/fastcgi;
    uwsgi_temp_path $stack_tmp/nginx/temp/uwsgi;
    scgi_temp_path $stack_tmp/nginx/temp/scgi;
    include $stack_tmp/nginx/gateway.conf;
    access_log $stack_tmp/nginx/access.log gateway;
}
EOF
  local args=(-p "$stack_tmp/nginx/" -c "$stack_tmp/nginx/nginx.conf" -e "$stack_tmp/nginx/error.log")
  "$nginx" "${args[@]}" -t -q
  "$nginx" "${args[@]}" -g 'daemon off;' &
  nginx_pid=$!
  gateway="http://127.0.0.1:$GATEWAY_PORT"
}

stack_ready() {
  local prefix
  for prefix in users products orders; do
    curl -fsS -o /dev/null "$gateway/api/$prefix/health/db" 2>/dev/null || return 1
  done
}

stack_wait_ready() {
  local pid
  for _ in $(seq 1 150); do
    stack_ready && return 0
    for pid in "${stack_pids[@]}" "$nginx_pid"; do
      kill -0 "$pid" 2>/dev/null || {
        log "a process exited at startup; logs in $stack_tmp"
        tail -n 5 "$stack_tmp"/*.log "$stack_tmp/nginx/error.log" >&2 || true
        STACK_KEEP=1
        exit 1
      }
    done
    sleep 0.2
  done
  stack_ready || { log "the services did not become ready through the gateway"; STACK_KEEP=1; exit 1; }
}

stack_stop() {
  local pid
  [ -n "$nginx_pid" ] && kill -TERM "$nginx_pid" 2>/dev/null || true
  for pid in "${stack_pids[@]}"; do
    kill -CONT "$pid" 2>/dev/null || true
    kill -TERM "$pid" 2>/dev/null || true
  done
  [ -n "$nginx_pid" ] && wait "$nginx_pid" 2>/dev/null || true
  for pid in "${stack_pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if [ -n "$started_mongodb" ]; then
    scripts/mongodb.sh stop --dbpath "$stack_tmp/mongodb" || true
  fi
  if [ -n "$drop_db" ]; then
    stack_drop_database || log "could not drop the database $DB_NAME on MONGO_URI"
  fi
  [ -n "$stack_tmp" ] || return 0
  if [ "${STACK_KEEP:-}" = 1 ]; then
    log "kept $stack_tmp"
  else
    rm -rf "$stack_tmp"
  fi
}
