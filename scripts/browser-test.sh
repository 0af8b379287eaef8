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
# newer with npm, nginx and envsubst, Python 3 and a Rust toolchain. playwright-core, pinned below,
# is installed with npm into ${XDG_CACHE_HOME:-~/.cache}/ecommerce-rs/browser-test, again only
# when the pin changes; it drives the system's Chromium and never downloads a browser.
# BROWSER_TEST_KEEP=1 keeps the temporary folder (logs, nginx.conf).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench/lib.sh
. scripts/bench/lib.sh
# shellcheck source=scripts/lib/services.sh
. scripts/lib/services.sh
readonly started_at=$SECONDS
readonly PLAYWRIGHT_CORE=playwright-core@1.65.1
readonly CHROMIUM_BIN=/usr/bin/chromium
readonly NODE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/ecommerce-rs/browser-test"
readonly ARTIFACTS_DIR="$PWD/target/browser-artifacts"

log() { echo "browser-test: $*" >&2; }

ensure_chromium() {
  [ -x "$CHROMIUM_BIN" ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing chromium with apt-get (once)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 || {
      apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    }
  else
    log "Debian's chromium is needed at $CHROMIUM_BIN: sudo apt-get install chromium"
    exit 1
  fi
}

# playwright-core is Playwright's library without its browser downloads: it drives the Chromium
# installed above. Installed again only when the pin changes.
ensure_playwright() {
  command -v npm >/dev/null || { log "Node.js with npm is needed: sudo apt-get install nodejs npm"; exit 1; }
  if [ "$(cat "$NODE_DIR/pin" 2>/dev/null)" = "$PLAYWRIGHT_CORE" ] && [ -d "$NODE_DIR/node_modules/playwright-core" ]; then
    return 0
  fi
  log "installing $PLAYWRIGHT_CORE into $NODE_DIR (once per change of the pin)"
  rm -rf "$NODE_DIR"
  mkdir -p "$NODE_DIR"
  echo '{"private": true}' >"$NODE_DIR/package.json"
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --prefix "$NODE_DIR" --save-exact --no-audit --no-fund \
    --loglevel=error "$PLAYWRIGHT_CORE" >&2
  # The stamp is written last, so an interrupted install is redone next time.
  echo "$PLAYWRIGHT_CORE" >"$NODE_DIR/pin"
}

ensure_chromium
ensure_playwright
ensure_nginx

log "building the services (debug)"
cargo build --workspace --locked
bin="$(cd "${CARGO_TARGET_DIR:-target}/debug" && pwd)"

STACK_KEEP=${BROWSER_TEST_KEEP:-}
web_pid=''
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  [ -n "$web_pid" ] && kill -TERM "$web_pid" 2>/dev/null && wait "$web_pid" 2>/dev/null || true
  stack_stop
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

stack_init browser-test
stack_start_mongodb
stack_service_env
# Every registration and login of the test comes from one address.
export RATE_LIMIT_BURST=200 RATE_LIMIT_PER_MINUTE=600
stack_start_services "$bin"
stack_start_gateway

# The page on its own port, as scripts/run.sh serves it.
web_port=$(free_port)
python3 -m http.server "$web_port" --bind 127.0.0.1 --directory web >"$stack_tmp/web.log" 2>&1 &
web_pid=$!

stack_wait_ready
log "gateway on $gateway, page alone on http://127.0.0.1:$web_port"

rm -rf "$ARTIFACTS_DIR"
mkdir -p "$ARTIFACTS_DIR"
status=0
PLAYWRIGHT_DIR="$NODE_DIR" CHROMIUM="$CHROMIUM_BIN" ARTIFACTS="$ARTIFACTS_DIR" GATEWAY="$gateway" \
  WEB_ALONE="http://127.0.0.1:$web_port" USERS_URL="http://${upstreams[0]}" \
  PRODUCTS_URL="http://${upstreams[1]}" ORDERS_URL="http://${upstreams[2]}" \
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
