#!/usr/bin/env bash
# Tests the storefront (web/) in a real browser: builds the services (debug), starts a throwaway
# MongoDB (or uses MONGO_URI, with a database of its own), the three services and nginx with the
# gateway template serving web/ at /, plus web/ on a port of its own (Python's http.server), all on
# free loopback ports in a temporary folder; then drives headless Chromium through the page
# (scripts/browser/storefront.test.mjs): a seller registers, logs in, adds a product with stock
# and uploads its image; a buyer registers, logs in, finds the product and sees its image, is
# refused an order beyond the stock (409, its detail shown), places one, sees it in the orders,
# cancels it; the test then corrupts the stored access token and the next call must refresh the
# tokens and succeed. Finally the page on its own port calls the services' own ports (CORS):
# browse, search, log in, the buyer's orders. Any console error or failed request of the page
# other than the expected ones fails the test. Screenshots of every step go to
# target/browser-artifacts/. About 30 s once installed and built.
#
#   scripts/browser-test.sh
#
# Needs Debian's chromium (apt-get installs it when missing and this runs as root), Node.js 18 or
# newer with npm, nginx and envsubst, Python 3 and a Rust toolchain. playwright-core, pinned in
# scripts/lib/tools.txt, is installed with npm into ${XDG_CACHE_HOME:-~/.cache}/ecommerce-rs/browser,
# again only when the pin changes; it drives the system's Chromium and never downloads a browser.
# BROWSER_TEST_KEEP=1 keeps the temporary folder (logs, nginx.conf). The stack is started and
# stopped by scripts/lib/stack.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
readonly started_at=$SECONDS
readonly CHROMIUM_BIN=/usr/bin/chromium
readonly ARTIFACTS_DIR="$PWD/target/browser-artifacts"
log() { echo "browser-test: $*" >&2; }
# shellcheck source=scripts/lib/tools.sh
. scripts/lib/tools.sh
# shellcheck source=scripts/lib/stack.sh
. scripts/lib/stack.sh

tools_debian "chromium:$CHROMIUM_BIN"
playwright=$(tools_install browser)

STACK_KEEP=${BROWSER_TEST_KEEP:-}
stack_build debug
stack_init browser-test
stack_start_mongodb
stack_database
stack_service_env
# Behind nginx, which appends the client's address; every registration and login of the test
# comes from one address.
export TRUSTED_PROXY_HEADER=X-Forwarded-For CORS_ORIGINS='' RATE_LIMIT_BURST=200 RATE_LIMIT_PER_MINUTE=600
stack_start_services
stack_start_gateway

# The page on its own port, as scripts/run.sh serves it.
web_port=$(free_port)
python3 -m http.server "$web_port" --bind 127.0.0.1 --directory web >"$stack_tmp/web.log" 2>&1 &
stack_track $!

stack_wait_ready
log "gateway on $gateway, page alone on http://127.0.0.1:$web_port"

rm -rf "$ARTIFACTS_DIR"
mkdir -p "$ARTIFACTS_DIR"
status=0
PLAYWRIGHT_DIR="$playwright" CHROMIUM="$CHROMIUM_BIN" ARTIFACTS="$ARTIFACTS_DIR" GATEWAY="$gateway" \
  WEB_ALONE="http://127.0.0.1:$web_port" USERS_URL="${service_url[user-service]}" \
  PRODUCTS_URL="${service_url[product-service]}" ORDERS_URL="${service_url[order-service]}" \
  node scripts/browser/storefront.test.mjs || status=1

elapsed=$((SECONDS - started_at))
echo
echo "screenshots in $ARTIFACTS_DIR"
if [ "$status" = 0 ]; then
  echo "PASS: the storefront works in Chromium, behind the gateway and on its own (${elapsed} s)"
else
  STACK_KEEP=1
  echo "FAIL: see the steps marked FAIL above; logs in $stack_tmp (${elapsed} s)"
fi
exit "$status"
