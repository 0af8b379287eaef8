# shellcheck shell=bash
# Starts the stack for a script and stops it at the end: source it from the repository root, after
# scripts/lib/tools.sh. Messages go through `log` (define it to say which script speaks).
#
#   stack_init PREFIX               a temporary folder, $stack_tmp, named after PREFIX, and an EXIT
#                                   trap that calls stack_stop (Ctrl-C and SIGTERM exit 130 through it)
#   stack_build debug|release [ARG...]
#                                   cargo build (ARGs passed on); the binaries' folder in $stack_bin
#   stack_start_mongodb [--port PORT] [--dbpath DIR]
#                                   nothing when MONGO_URI is set; otherwise MongoDB (scripts/mongodb.sh)
#                                   on PORT (default: a free one) with its data in DIR (default: in
#                                   $stack_tmp, thrown away), stopped by stack_stop; exports MONGO_URI
#   stack_database                  a database of the run's own, DB_NAME=PREFIX_<random>, exported; on
#                                   a MongoDB not started here (MONGO_URI, and no stack_track_mongod
#                                   before it) stack_stop drops it
#   stack_service_env               a test's settings: a random JWT_SECRET and admin account
#                                   (ADMIN_EMAIL, ADMIN_PASSWORD), HOST=127.0.0.1, BCRYPT_COST=4, JSON
#                                   logs at info; export more after it
#   stack_start_service NAME [PORT] one service from $stack_bin on PORT (default: a free one), run from
#                                   $stack_service_dir (default $stack_tmp, where no .env of the
#                                   checkout applies), its output appended to $stack_log_dir/NAME.log
#                                   (default $stack_tmp; set it empty for the terminal); sets
#                                   service_pid[NAME], service_port[NAME] and service_url[NAME]
#   stack_start_replica NAME KEY [PORT]
#                                   another process of service NAME, as stack_start_service, recorded
#                                   under KEY (e.g. product-service-2) in service_pid, service_port,
#                                   service_url and its log KEY.log, so replicas run side by side
#   stack_start_services            the three services, on free ports
#   stack_stop_service NAME         stops one of them
#   stack_start_gateway             nginx with deploy/nginx/gateway.conf.template in front of the three,
#                                   serving web/ at /; its address in $gateway
#   stack_track PID                 another process for stack_stop to stop
#   stack_track_mongod DBPATH       a mongod started elsewhere with --pidfilepath DBPATH/mongod.pid,
#                                   for stack_stop to stop (scripts/mongodb.sh stop) after the
#                                   services, whatever its pid is by then (it may have been restarted)
#   stack_wait_ready [SECONDS]      until every service started answers /health/db, directly and, with
#                                   the gateway, through it (default 60 s); a process that exits
#                                   meanwhile, or the time running out, ends the script
#   stack_mongod_pid                prints the pid of the MongoDB started here, if any
#   stack_stop                      stops everything started (SIGTERM, then SIGKILL after 20 s), drops
#                                   the run's database, removes $stack_tmp unless STACK_KEEP=1
#   free_port                       prints a TCP port free on loopback right now

# shellcheck disable=SC2034 # the variables are for the scripts that source this file

readonly STACK_SERVICES=(user-service product-service order-service)
# The template's variables, for envsubst: no other ${...} of the template is touched.
# shellcheck disable=SC2016
readonly GATEWAY_TEMPLATE_VARIABLES='${GATEWAY_PORT} ${ORDER_SERVICE_UPSTREAM} ${PRODUCT_SERVICE_UPSTREAM} ${USER_SERVICE_UPSTREAM} ${WEB_ROOT}'

stack_prefix='' stack_tmp='' stack_bin='' stack_log_dir='' stack_service_dir=''
stack_mongodb_dbpath='' stack_drop_db='' stack_pymongo='' nginx_pid='' gateway=''
stack_tracked=() stack_tracked_mongods=()
declare -A service_pid service_port service_url

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

stack_init() { # PREFIX
  stack_prefix=$1
  stack_tmp=$(mktemp -d "${TMPDIR:-/tmp}/$stack_prefix.XXXXXX")
  stack_log_dir=$stack_tmp
  stack_service_dir=$stack_tmp
  trap stack_exit EXIT
  trap 'exit 130' INT TERM
}

stack_exit() {
  local status=$?
  trap - EXIT INT TERM
  stack_stop
  exit "$status"
}

# The debug build is the workspace's, as the tests build it, so that neither rebuilds what the
# other built; the release build only the services.
stack_build() { # debug|release [CARGO ARG...]
  local mode=$1 args=(--workspace) name
  shift
  if [ "$mode" = release ]; then
    args=(--release)
    for name in "${STACK_SERVICES[@]}"; do args+=(-p "$name"); done
  fi
  log "building the services ($mode)"
  cargo build --locked "${args[@]}" "$@"
  stack_bin=$(cd "${CARGO_TARGET_DIR:-target}/$mode" && pwd)
}

# shellcheck disable=SC2120 # its arguments are optional
stack_start_mongodb() { # [--port PORT] [--dbpath DIR]
  local port='' dbpath=''
  while [ $# -gt 0 ]; do
    case "$1" in
      --port) port=$2; shift 2 ;;
      --dbpath) dbpath=$2; shift 2 ;;
      *) log "stack_start_mongodb: unknown option $1"; return 2 ;;
    esac
  done
  if [ -n "${MONGO_URI:-}" ]; then
    log "using MONGO_URI"
    return 0
  fi
  [ -n "$port" ] || port=$(free_port)
  [ -n "$dbpath" ] || dbpath="$stack_tmp/mongodb"
  log "starting MongoDB on port $port (data in $dbpath)"
  MONGO_URI=$(scripts/mongodb.sh start --port "$port" --dbpath "$dbpath")
  stack_mongodb_dbpath=$dbpath
  export MONGO_URI
}

stack_database() {
  DB_NAME="${stack_prefix//-/_}_$(python3 -c 'import secrets; print(secrets.token_hex(6))')"
  export DB_NAME
  if [ -z "$stack_mongodb_dbpath" ] && [ ${#stack_tracked_mongods[@]} -eq 0 ]; then
    stack_pymongo=$(tools_install mongodb)
    stack_drop_db=1
    log "database $DB_NAME on MONGO_URI, dropped at the end"
  fi
}

stack_service_env() {
  export JWT_SECRET ADMIN_PASSWORD
  JWT_SECRET=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
  ADMIN_PASSWORD=$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')
  export ADMIN_EMAIL="admin-$stack_prefix@example.com"
  export HOST=127.0.0.1 BCRYPT_COST=4 LOG_FORMAT=json RUST_LOG=info
}

stack_start_service() { # NAME [PORT]
  stack_start_replica "$1" "$1" "${2:-}"
}

stack_start_replica() { # NAME KEY [PORT]
  local name=$1 key=$2 port=${3:-}
  [ -n "$port" ] || port=$(free_port)
  if [ -n "$stack_log_dir" ]; then
    (cd "$stack_service_dir" && PORT=$port exec "$stack_bin/$name") >>"$stack_log_dir/$key.log" 2>&1 &
  else
    (cd "$stack_service_dir" && PORT=$port exec "$stack_bin/$name") &
  fi
  service_pid[$key]=$!
  service_port[$key]=$port
  service_url[$key]="http://127.0.0.1:$port"
}

stack_start_services() {
  local name
  for name in "${STACK_SERVICES[@]}"; do stack_start_service "$name"; done
}

stack_stop_service() { # NAME
  stack_end "${service_pid[$1]}"
  unset "service_pid[$1]" "service_port[$1]" "service_url[$1]"
}

stack_track() { # PID
  stack_tracked+=("$1")
}

stack_track_mongod() { # DBPATH
  stack_tracked_mongods+=("$1")
}

stack_start_gateway() {
  local nginx dir="$stack_tmp/nginx"
  tools_debian nginx:/usr/sbin/nginx gettext-base:envsubst
  nginx=$(command -v nginx || echo /usr/sbin/nginx)
  export GATEWAY_PORT USER_SERVICE_UPSTREAM="127.0.0.1:${service_port[user-service]}" \
    PRODUCT_SERVICE_UPSTREAM="127.0.0.1:${service_port[product-service]}" \
    ORDER_SERVICE_UPSTREAM="127.0.0.1:${service_port[order-service]}" WEB_ROOT="$PWD/web"
  GATEWAY_PORT=$(free_port)
  mkdir -p "$dir/temp"
  envsubst "$GATEWAY_TEMPLATE_VARIABLES" <deploy/nginx/gateway.conf.template >"$dir/gateway.conf"
  # As root, nginx would hand its workers to "nobody", which cannot enter the private folder.
  local user_line=''
  [ "$(id -u)" = 0 ] && user_line="user $(id -un) $(id -gn);"
  cat >"$dir/nginx.conf" <<EOF
$user_line
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 512; }
http {
    default_type application/octet-stream;
    client_body_temp_path $dir/temp/body;
    proxy_temp_path $dir/temp/proxy;
    fastcgi_temp_path $dir/temp/fastcgi;
    uwsgi_temp_path $dir/temp/uwsgi;
    scgi_temp_path $dir/temp/scgi;
    include $dir/gateway.conf;
    access_log $dir/access.log gateway;
}
EOF
  local args=(-p "$dir/" -c "$dir/nginx.conf" -e "$dir/error.log")
  "$nginx" "${args[@]}" -t -q
  "$nginx" "${args[@]}" -g 'daemon off;' &
  nginx_pid=$!
  gateway="http://127.0.0.1:$GATEWAY_PORT"
}

stack_ready() {
  local name
  for name in "${!service_url[@]}"; do
    curl -fsS -o /dev/null "${service_url[$name]}/health/db" 2>/dev/null || return 1
    if [ -n "$gateway" ]; then
      curl -fsS -o /dev/null "$gateway/api/${name%%-*}s/health/db" 2>/dev/null || return 1
    fi
  done
}

# Whether PID runs: an exited child stays a zombie, which kill -0 still finds, until it is waited for.
stack_running() { # PID
  local state
  state=$(sed 's/^.*) //; s/ .*//' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}

# shellcheck disable=SC2120 # its argument is optional
stack_wait_ready() { # [SECONDS]
  local deadline=$((SECONDS + ${1:-60})) name
  until stack_ready; do
    for name in "${!service_pid[@]}"; do
      stack_running "${service_pid[$name]}" || { log "$name exited at startup"; stack_fail_startup; }
    done
    if [ -n "$nginx_pid" ] && ! stack_running "$nginx_pid"; then
      log "nginx exited at startup"
      stack_fail_startup
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "the services did not become ready within ${1:-60} s"
      stack_fail_startup
    fi
    sleep 0.2
  done
}

stack_fail_startup() {
  if [ -n "$stack_log_dir" ]; then
    log "logs in $stack_log_dir"
    tail -n 5 "$stack_log_dir"/*.log "$stack_tmp"/nginx/error.log >&2 2>/dev/null || true
  fi
  STACK_KEEP=1
  exit 1
}

stack_mongod_pid() {
  [ -z "$stack_mongodb_dbpath" ] || cat "$stack_mongodb_dbpath/mongod.pid"
}

# SIGTERM (after SIGCONT, for a stopped one), then SIGKILL for any still running after 20 s.
stack_end() { # PID...
  local pid
  for pid in "$@"; do
    kill -CONT "$pid" 2>/dev/null || true
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "$@"; do
    for _ in $(seq 1 200); do
      stack_running "$pid" || break
      sleep 0.1
    done
    if stack_running "$pid"; then
      log "process $pid did not stop within 20 s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
}

stack_stop() {
  if [ -n "$nginx_pid" ]; then
    stack_end "$nginx_pid"
    nginx_pid='' gateway=''
  fi
  stack_end "${service_pid[@]}" "${stack_tracked[@]}"
  service_pid=() service_port=() service_url=() stack_tracked=()
  local dbpath
  for dbpath in "${stack_tracked_mongods[@]}"; do
    scripts/mongodb.sh stop --dbpath "$dbpath" || true
  done
  stack_tracked_mongods=()
  if [ -n "$stack_mongodb_dbpath" ]; then
    scripts/mongodb.sh stop --dbpath "$stack_mongodb_dbpath" || true
    stack_mongodb_dbpath=''
  fi
  if [ -n "$stack_drop_db" ]; then
    PYTHONPATH="$stack_pymongo" python3 -c 'import sys, pymongo
pymongo.MongoClient(sys.argv[1], serverSelectionTimeoutMS=5000).drop_database(sys.argv[2])' \
      "$MONGO_URI" "$DB_NAME" || log "could not drop the database $DB_NAME on MONGO_URI"
    stack_drop_db=''
  fi
  [ -n "$stack_tmp" ] || return 0
  if [ "${STACK_KEEP:-}" = 1 ]; then
    log "kept $stack_tmp"
  else
    rm -rf "$stack_tmp"
  fi
  stack_tmp=''
}
