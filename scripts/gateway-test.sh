#!/usr/bin/env bash
# Tests the nginx gateway (deploy/nginx/gateway.conf.template) for real: builds the services
# (debug), starts a throwaway MongoDB (or uses MONGO_URI, with a database of its own), the three
# services and nginx on free ports, all in a temporary folder, then walks the API through the
# gateway's /api routes only (scripts/gateway_walk.py): a seller, a buyer, a product, a search,
# an order placed, read, listed and cancelled; a checkout paid by a signed provider event; a
# webhook subscription whose receiver (on loopback) gets an order's order.placed event, signed;
# the storefront (web/, the template's WEB_ROOT) served at / with its modules, GET and HEAD
# only; request ids end to end; the services' errors
# passed through and the gateway's own in the API's error shape; rate limits keyed by the
# client's address behind the proxy; every service's Swagger UI and OpenAPI document. Finally it
# freezes the product service and expects 504, then stops the order service and expects 502, both
# in the error shape. Everything it started is stopped on exit; it ends with PASS or FAIL and
# exits non-zero on failure. About 30 s once the services are built.
#
#   scripts/gateway-test.sh
#
# Needs nginx and envsubst (apt-get installs them when missing and this runs as root), Python 3
# and a Rust toolchain. GATEWAY_TEST_KEEP=1 keeps the temporary folder (logs, nginx.conf). The
# stack is started and stopped by scripts/lib/stack.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
readonly started_at=$SECONDS
log() { echo "gateway-test: $*" >&2; }
# shellcheck source=scripts/lib/tools.sh
. scripts/lib/tools.sh
# shellcheck source=scripts/lib/stack.sh
. scripts/lib/stack.sh

STACK_KEEP=${GATEWAY_TEST_KEEP:-}
# The walk signs a payment event, and verifies the order service's webhook signatures, with the
# Standard Webhooks reference implementation.
gateway_tools=$(tools_install gateway)
stack_build debug
stack_init gateway-test
stack_start_mongodb
stack_database
stack_service_env
# Behind nginx, which appends the client's address; RATE_LIMIT_BURST leaves room for the walk's own
# logins from one address.
export TRUSTED_PROXY_HEADER=X-Forwarded-For CORS_ORIGINS='' RATE_LIMIT_BURST=10 RATE_LIMIT_PER_MINUTE=30
# A payment provider's signing secret, for the checkout the walk pays through /api/payments.
PAYMENT_WEBHOOK_SECRET="whsec_$(python3 -c 'import base64, os; print(base64.b64encode(os.urandom(24)).decode())')"
export PAYMENT_WEBHOOK_SECRET
# The walk subscribes a receiver of its own to the order service's events: plain http on loopback.
export WEBHOOK_ALLOW_HTTP=true WEBHOOK_ALLOW_PRIVATE=true
stack_start_services
stack_start_gateway

# The official nginx image substitutes every variable defined in its environment, not only the
# template's own: the template must come out the same that way, and write no other variable with
# braces.
status=0
# shellcheck disable=SC2016
braced=$(grep -o '\${[A-Za-z0-9_]*}' deploy/nginx/gateway.conf.template | LC_ALL=C sort -u | tr '\n' ' ')
if [ "$braced" != "$GATEWAY_TEMPLATE_VARIABLES " ]; then
  log "FAIL: the template writes these variables with braces: $braced"
  status=1
fi
# shellcheck disable=SC2016
every_variable=$(awk 'END { for (name in ENVIRON) printf "${%s} ", name }' </dev/null)
if ! envsubst "$every_variable" <deploy/nginx/gateway.conf.template | cmp -s - "$stack_tmp/nginx/gateway.conf"; then
  log "FAIL: the template renders differently when every environment variable is substituted"
  status=1
fi

stack_wait_ready
log "gateway on $gateway (users $USER_SERVICE_UPSTREAM, products $PRODUCT_SERVICE_UPSTREAM, orders $ORDER_SERVICE_UPSTREAM)"

PYTHONPATH="$gateway_tools" python3 scripts/gateway_walk.py walk --base "$gateway" --admin-email "$ADMIN_EMAIL" \
  --admin-password "$ADMIN_PASSWORD" --db-name "$DB_NAME" --logs "$stack_tmp" || status=1

# A frozen service (SIGSTOP: connections are accepted, nothing answers) is the gateway's 504 after
# its read timeout (15 s).
kill -STOP "${service_pid[product-service]}"
python3 scripts/gateway_walk.py stalled --base "$gateway" --service products || status=1
kill -CONT "${service_pid[product-service]}"
python3 scripts/gateway_walk.py healthy --base "$gateway" || status=1

stack_stop_service order-service
python3 scripts/gateway_walk.py down --base "$gateway" --service orders || status=1

if grep -q '\[\(emerg\|alert\|crit\)\]' "$stack_tmp/nginx/error.log"; then
  log "nginx logged errors:"
  grep '\[\(emerg\|alert\|crit\)\]' "$stack_tmp/nginx/error.log" >&2
  status=1
fi

elapsed=$((SECONDS - started_at))
echo
if [ "$status" = 0 ]; then
  echo "PASS: the gateway routes, passes and refuses as it should (${elapsed} s)"
else
  STACK_KEEP=1
  echo "FAIL: see the checks marked FAIL above; logs in $stack_tmp (${elapsed} s)"
fi
exit "$status"
