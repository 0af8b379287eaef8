#!/usr/bin/env bash
# Builds and runs every service against a local MongoDB that it provisions and starts (data kept
# in .data/mongodb between runs), or against MONGO_URI when that is set (in the environment or in
# .env). Also serves the storefront (web/) on its own port, WEB_PORT (default 8080), with Python's
# http.server, its requests logged to .data/web.log. Prints the storefront's address, which names
# the three services' base URLs in its query string (web/config.js reads them; the page calls the
# services across origins, which their default CORS_ORIGINS allows), and each service's Swagger
# UI address; Ctrl-C stops everything.
#
# A development JWT_SECRET is generated once into .data/jwt_secret (git-ignored) unless
# JWT_SECRET is set. MONGO_PORT (default 27117) picks the local MongoDB's port. PUBLIC_BASE_URL
# defaults to the storefront's address; without SMTP_URL the user service logs its mails' links.
#
#   scripts/run.sh          run the services
#   scripts/run.sh --demo   also load a demo catalog (a few dozen products of a demo seller), once
set -euo pipefail
cd "$(dirname "$0")/.."
readonly DATA="$PWD/.data"
readonly PORTS=(user-service:8001 product-service:8002 order-service:8003)
log() { echo "run.sh: $*" >&2; }
# shellcheck source=scripts/lib/tools.sh
. scripts/lib/tools.sh
# shellcheck source=scripts/lib/stack.sh
. scripts/lib/stack.sh

demo=''
for arg in "$@"; do
  case "$arg" in
    --demo) demo=1 ;;
    *) echo "usage: scripts/run.sh [--demo]" >&2; exit 2 ;;
  esac
done

# The services read .env themselves; read it here as well so its MONGO_URI and JWT_SECRET count.
if [ -f .env ]; then
  set -a
  # shellcheck disable=SC1091
  . ./.env
  set +a
fi

mkdir -p "$DATA"
if [ -z "${JWT_SECRET:-}" ]; then
  if [ ! -s "$DATA/jwt_secret" ]; then
    (umask 077 && python3 -c 'import secrets; print(secrets.token_hex(32))' >"$DATA/jwt_secret")
  fi
  JWT_SECRET=$(cat "$DATA/jwt_secret")
  export JWT_SECRET
fi

# The storefront's port; the links the user service mails (email verification, password reset)
# open it, unless PUBLIC_BASE_URL says otherwise. Without SMTP_URL those mails are only written
# to the user service's log, links included.
web_port=${WEB_PORT:-8080}
export PUBLIC_BASE_URL=${PUBLIC_BASE_URL:-http://localhost:$web_port}

stack_build release
stack_init ecommerce-run
# From the checkout, so that its .env counts; their logs on the terminal.
stack_service_dir=$PWD stack_log_dir=''
stack_start_mongodb --port "${MONGO_PORT:-27117}" --dbpath "$DATA/mongodb"
for entry in "${PORTS[@]}"; do
  stack_start_service "${entry%%:*}" "${entry##*:}"
done
stack_wait_ready

# The storefront: plain files, no build step. Only on loopback: web/config.js honours the base
# URLs of its query string only on a loopback address.
python3 -m http.server "$web_port" --bind 127.0.0.1 --directory web >"$DATA/web.log" 2>&1 &
stack_track $!
storefront="http://localhost:$web_port/"
separator='?'
for entry in "${PORTS[@]}"; do
  name=${entry%%:*}
  storefront+="${separator}${name%%-*}s=http://localhost:${entry##*:}"
  separator='&'
done

if [ -n "$demo" ]; then
  python3 scripts/demo/load_catalog.py http://127.0.0.1:8001 http://127.0.0.1:8002
fi

echo
printf '  %-16s %s\n' storefront "$storefront"
for entry in "${PORTS[@]}"; do
  printf '  %-16s http://localhost:%s/docs\n' "${entry%%:*}" "${entry##*:}"
done
echo
echo "Press Ctrl-C to stop."

# Returns when any service or the storefront's server exits (or on Ctrl-C); the EXIT trap then
# stops the rest.
wait -n "${service_pid[@]}" "${stack_tracked[@]}"
