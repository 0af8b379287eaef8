#!/usr/bin/env bash
# Tests the storefront (web/) in a real browser: builds the services (debug), starts a throwaway
# MongoDB (or uses MONGO_URI, with a database of its own), the three services and nginx with the
# gateway template serving web/ at /, plus web/ on a port of its own (Python's http.server), all on
# free loopback ports in a temporary folder; then drives headless Chromium through the page
# (scripts/browser/storefront.test.mjs): a seller registers, logs in, adds a product with stock
# and uploads its image; a buyer registers, logs in, finds the product and sees its image, is
# refused an order beyond the stock (409, its detail shown), places one, sees it in the orders,
# cancels it; the test then corrupts the stored access token and the next call must refresh the
# tokens and succeed. The user service mails through a real SMTP server (aiosmtpd, storing each
# mail in a maildir the test reads), with links to the storefront behind the gateway: a third user
# sees the banner asking to verify the email, asks for the link again up to the 429, opens an
# older link (refused) and the latest (verified), and back on the storefront the banner is gone
# once the page refreshed the token the verification revoked; changes the name and the password
# (logged out, the old one refused, the new one works), and resets the password through
# "Forgot password?" and the mailed link (a 422 at its field, the link used once, an account
# disabled since). Finally the page on its own port calls the services' own ports (CORS):
# browse, search, log in, the buyer's orders, and the two link pages, with the base URLs in their
# query and without. Any console error or failed request of the page other than the expected
# ones fails the test. Screenshots of every step go to target/browser-artifacts/. About 45 s
# once installed and built.
#
#   scripts/browser-test.sh
#
# Needs Debian's chromium (apt-get installs it when missing and this runs as root), Node.js 18 or
# newer with npm, nginx and envsubst, Python 3 and a Rust toolchain. playwright-core and aiosmtpd,
# pinned in scripts/lib/tools.txt, are installed with npm and pip into
# ${XDG_CACHE_HOME:-~/.cache}/ecommerce-rs/{browser,mail}, again only when a pin changes;
# playwright-core drives the system's Chromium and never downloads a browser.
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
aiosmtpd=$(tools_install mail)

STACK_KEEP=${BROWSER_TEST_KEEP:-}
stack_build debug
stack_init browser-test
stack_start_mongodb
stack_database
stack_service_env
# Behind nginx, which appends the client's address; every registration and login of the test
# comes from one address.
export TRUSTED_PROXY_HEADER=X-Forwarded-For CORS_ORIGINS='' RATE_LIMIT_BURST=200 RATE_LIMIT_PER_MINUTE=600

# A real SMTP server for the user service's mails, each stored as a file in a maildir (new/) that
# the test reads.
smtp_port=$(free_port)
maildir="$stack_tmp/maildir"
PYTHONPATH="$aiosmtpd" python3 -m aiosmtpd -n -l "127.0.0.1:$smtp_port" -c aiosmtpd.handlers.Mailbox "$maildir" \
  >"$stack_tmp/smtp.log" 2>&1 &
smtp_pid=$!
stack_track "$smtp_pid"
export SMTP_URL="smtp://127.0.0.1:$smtp_port" MAIL_FROM='Storefront test <shop@example.com>'

# The mails' links open the storefront as the test's browser reaches it, behind the gateway. Its
# address is known once the gateway runs, and the gateway needs the services' ports: so the user
# service's port is chosen first, and the service started after the gateway, with PUBLIC_BASE_URL.
stack_start_service product-service
stack_start_service order-service
service_port[user-service]=$(free_port)
stack_start_gateway
export PUBLIC_BASE_URL="$gateway"
stack_start_service user-service "${service_port[user-service]}"

# The page on its own port, as scripts/run.sh serves it.
web_port=$(free_port)
python3 -m http.server "$web_port" --bind 127.0.0.1 --directory web >"$stack_tmp/web.log" 2>&1 &
stack_track $!

stack_wait_ready
until (exec 3<>"/dev/tcp/127.0.0.1/$smtp_port") 2>/dev/null; do
  stack_running "$smtp_pid" || { log "aiosmtpd exited at startup"; stack_fail_startup; }
  sleep 0.1
done
log "gateway on $gateway, page alone on http://127.0.0.1:$web_port, SMTP on 127.0.0.1:$smtp_port"

rm -rf "$ARTIFACTS_DIR"
mkdir -p "$ARTIFACTS_DIR"
status=0
PLAYWRIGHT_DIR="$playwright" CHROMIUM="$CHROMIUM_BIN" ARTIFACTS="$ARTIFACTS_DIR" GATEWAY="$gateway" \
  WEB_ALONE="http://127.0.0.1:$web_port" USERS_URL="${service_url[user-service]}" \
  PRODUCTS_URL="${service_url[product-service]}" ORDERS_URL="${service_url[order-service]}" \
  MAILDIR="$maildir" node scripts/browser/storefront.test.mjs || status=1

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
