#!/usr/bin/env bash
# Checks every service against its own OpenAPI document with schemathesis, and exits non-zero if
# any run finds a failure. The debug builds of the three services are started on free ports
# against a throwaway MongoDB (when MONGO_URI is set: against a fresh database there, dropped at
# the end); a buyer and a seller register, they and the admin log in, the seller adds products
# and the buyer places an order, so that generated requests sometimes name real ids. Then
# `st run` tries each service's /openapi.json with every check, once as each role, and one line
# per run sums it up.
#
#   scripts/schemathesis.sh                            every service, every role
#   SCHEMATHESIS_EXAMPLES=100 scripts/schemathesis.sh  examples per operation (default 50)
#   SCHEMATHESIS_SEED=1 scripts/schemathesis.sh        another seed (default 20261123)
#
# schemathesis is pinned in scripts/lib/tools.txt and installed once into
# ${XDG_CACHE_HOME:-~/.cache}/ecommerce-rs/schemathesis (again only when the pin changes); the
# stack is started and stopped by scripts/lib/stack.sh. Runs are bounded by examples, not by time, so a seed sends the same requests on a slow
# machine and a fast one; each run also has a wall-clock cap (SCHEMATHESIS_RUN_CAP, default 240
# seconds) that only a hung service reaches, and which counts as a failure. The accepted
# deviations from the documents and the rules the hooks in scripts/schemathesis_hooks.py take care
# of are explained at the configuration below.
set -euo pipefail
cd "$(dirname "$0")/.."
readonly ROOT=$PWD

readonly SEED=${SCHEMATHESIS_SEED:-20261123}
readonly EXAMPLES=${SCHEMATHESIS_EXAMPLES:-50}
readonly RUN_CAP=${SCHEMATHESIS_RUN_CAP:-240}
# The user service last: as the admin, its runs change the role and standing of the accounts its
# answers name (the seller's among them), which would revoke the tokens the other runs use.
readonly SERVICES=(product-service order-service user-service)
readonly ROLES=(buyer seller admin)

log() { echo "schemathesis.sh: $*" >&2; }
die() { log "$*"; exit 1; }
# shellcheck source=scripts/lib/tools.sh
. scripts/lib/tools.sh
# shellcheck source=scripts/lib/stack.sh
. scripts/lib/stack.sh

schemathesis=$(tools_install schemathesis)
stack_build debug
stack_init ecommerce-schemathesis
work=$stack_tmp
stack_start_mongodb
stack_database
stack_service_env
# Cheap hashing; limits far above what one run sends, so 429s stay rare (they remain documented
# answers, and the failed-login limit per email still applies); terse logs.
export RATE_LIMIT_PER_MINUTE=1000000 RATE_LIMIT_BURST=100000 BCRYPT_QUEUE_WAIT_MS=10000
export LOG_FORMAT=pretty RUST_LOG=warn CATALOG_POLL_SECS=1
# The payment routes live, so that what is fuzzed is their signature check (a request schemathesis
# makes can never be signed: 401), not the 404 of a provider left unconfigured.
export PAYMENT_WEBHOOK_SECRET=whsec_c2NoZW1hdGhlc2lzLW9ubHktc2VjcmV0 STRIPE_WEBHOOK_SECRET=whsec_schemathesis_only
# Webhook URLs are then checked for their form only: no generated host name is looked up when a
# subscription is written (its deliveries fail in the background, which no answer waits for).
export WEBHOOK_ALLOW_HTTP=true WEBHOOK_ALLOW_PRIVATE=true
unset CORS_ORIGINS TRUSTED_PROXY_HEADER
stack_start_services
stack_wait_ready
users=${service_url[user-service]}
products=${service_url[product-service]}
orders=${service_url[order-service]}

# POSTs a JSON body, prints the response body, fails unless the status is $1.
post() {
  local expected=$1 url=$2 body=$3 token=${4:-} status
  local auth=()
  [ -n "$token" ] && auth=(-H "Authorization: Bearer $token")
  status=$(curl -sS -o "$work/response.json" -w '%{http_code}' -X POST "$url" \
    -H 'Content-Type: application/json' "${auth[@]}" -d "$body")
  [ "$status" = "$expected" ] || die "POST $url answered $status: $(cat "$work/response.json")"
  cat "$work/response.json"
}
field() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

declare -A token user_id
password=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
for role in buyer seller; do
  post 200 "$users/users/register" \
    "{\"email\": \"$role-$DB_NAME@example.com\", \"password\": \"$password\", \"role\": \"$role\"}" >/dev/null
done
for role in "${ROLES[@]}"; do
  if [ "$role" = admin ]; then email=$ADMIN_EMAIL secret=$ADMIN_PASSWORD; else
    email="$role-$DB_NAME@example.com" secret=$password
  fi
  token[$role]=$(post 200 "$users/users/login" "{\"email\": \"$email\", \"password\": \"$secret\"}" | field access_token)
  user_id[$role]=$(curl -fsS "$users/users/me" -H "Authorization: Bearer ${token[$role]}" | field id)
done
# Accounts for the user service's path ids: as the admin, generated requests change the role and
# standing of the accounts they name (PATCH /users/{id}), which would revoke the buyer's and the
# seller's tokens that the other services' runs need. So those runs name two accounts of their own.
target_ids=()
for name in fuzz-a fuzz-b; do
  target_ids+=("$(post 200 "$users/users/register" \
    "{\"email\": \"$name-$DB_NAME@example.com\", \"password\": \"$password\"}" | field id)")
done
# Real ids for the generated requests to name sometimes. Each service's runs get products of
# their own, made just before them, so that the product service's runs (which may delete what
# they find) leave the order service's products in place.
product_ids=() order_id=''
create_products() {
  product_ids=()
  for name in 'Desk lamp' 'Reading chair'; do
    product_ids+=("$(post 201 "$products/products" \
      "{\"name\": \"$name\", \"price\": 39.9, \"category\": \"Home\", \"stock\": 1000000}" \
      "${token[seller]}" | field id)")
  done
}
create_order() {
  order_id=$(post 201 "$orders/orders" \
    "{\"items\": [{\"product_id\": \"${product_ids[0]}\", \"quantity\": 1}]}" "${token[buyer]}" | field id)
}

# TOML arrays of the real ids, for the dictionaries below.
toml_list() { printf '"%s", ' "$@" | sed 's/, $//'; }

# One configuration per service: the run settings, the real ids that generated values sometimes
# take, and the accepted deviations from the documents (POST /orders, three webhook and event
# operations, and the two routes that spend a mailed token, below). The hooks repair
# the generated requests that break the four rules JSON Schema cannot state, which the documents
# give in words (min_price above max_price; one product's lines adding up to over 10 000 units; a
# password's length counted in UTF-8 bytes; an Idempotency-Key reused for another order): see
# scripts/schemathesis_hooks.py. Nothing else is excluded or changed.
write_config() {
  local service=$1 ids
  local users_toml products_toml
  users_toml="[$(toml_list "${user_id[@]}")]"
  products_toml="[$(toml_list "${product_ids[@]}")]"
  case "$service" in
    user-service) ids="[$(toml_list "${target_ids[@]}")]" ;;
    product-service) ids=$products_toml ;;
    order-service) ids="[\"$order_id\"]" ;;
  esac
  cat <<TOML
seed = $SEED
workers = 1
hooks = "$ROOT/scripts/schemathesis_hooks.py"

[generation]
max-examples = $EXAMPLES
# Examples and failures found in one run are not replayed by the next (nor stored in the
# checkout): each run sends what the seed says.
database = "none"

[cache]
enabled = false

[dictionaries.ids]
values = $ids
[dictionaries.users]
values = $users_toml
[dictionaries.products]
values = $products_toml

[parameters]
"path.id" = { dictionary = "ids", probability = 0.5 }
"query.seller_id" = { dictionary = "users", probability = 0.5 }
"query.user_id" = { dictionary = "users", probability = 0.5 }
"body.user_id" = { dictionary = "users", probability = 0.5 }
"body.items[*].product_id" = { dictionary = "products", probability = 0.5 }
TOML
  if [ "$service" = user-service ]; then
    cat <<'TOML'

# A link's token must be one the service mailed and that is still live, which no schema can state:
# a well-formed token that is not is 400 INVALID_TOKEN, as the contract says. So 400 is added to
# what positive_data_acceptance expects of the two routes that spend a token.
[[operations]]
include-path = "/users/password-reset/confirm"
include-method = "POST"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "429", "5xx"]

[[operations]]
include-path = "/users/verify-email"
include-method = "POST"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "429", "5xx"]

# PATCH /users/{id} with a field given as null is no change, and a body with no change is 422.
[[operations]]
include-path = "/users/{id}"
include-method = "PATCH"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]
TOML
  fi
  if [ "$service" = order-service ]; then
    cat <<'TOML'

# The contract keeps the earlier system's answer to an order naming a well-formed id of no product:
# 400 PRODUCT_NOT_FOUND "Product X not found", not 404. So a request valid by the document may be
# refused with 400 here, and only here: 400 is added to what positive_data_acceptance expects of
# POST /orders (the rest of its list is schemathesis's default), and nowhere else.
[[operations]]
include-path = "/orders"
include-method = "POST"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "422", "429", "5xx"]

# (The stateful phase sends POST /orders with keys the hooks never see, so a key reused for another
# request is 422 IDEMPOTENCY_KEY_REUSED there: 422 is expected of it too. Entries of one method
# must agree: schemathesis applied the first POST entry to every POST operation.)
# A webhook URL must parse as a URL the WHATWG standard accepts (a host that is a valid domain or
# address, a port that fits, ...), which no pattern states; and GET /events' `after` must name an
# event still kept, which depends on what the database holds. So a request valid by the document
# may be refused with 422 on these three operations: 422 is added to what
# positive_data_acceptance expects of them (the rest of the list is schemathesis's default).
[[operations]]
include-path = "/webhooks"
include-method = "POST"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "422", "429", "5xx"]

[[operations]]
include-path = "/webhooks/{id}"
include-method = "PATCH"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]

[[operations]]
include-path = "/events"
include-method = "GET"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]
TOML
  fi
}

failures=0 summaries=()
for service in "${SERVICES[@]}"; do
  create_products
  if [ "$service" = order-service ]; then create_order; fi
  write_config "$service" >"$work/$service.toml"
  for role in "${ROLES[@]}"; do
    echo
    echo "===== schemathesis: $service as $role ====="
    output="$work/$service-$role.out"
    set +e
    PYTHONPATH=$schemathesis timeout --kill-after=10 "$RUN_CAP" "$schemathesis/bin/st" \
      --config-file "$work/$service.toml" run "${service_url[$service]}/openapi.json" \
      --checks all --header "Authorization: Bearer ${token[$role]}" --no-color \
      2>&1 | tee "$output"
    status=${PIPESTATUS[0]}
    set -e
    # schemathesis ends with a line such as `===== 2 failures, 1 warning in 9.87s =====`.
    result=$(grep -E '^=+ .* in [0-9.]+s =+$' "$output" | tail -n 1 | tr -d '=' | xargs || true)
    [ "$status" = 124 ] && result="stopped after ${RUN_CAP}s"
    [ "$status" = 0 ] || failures=$((failures + 1))
    summaries+=("$(printf '%-16s %-7s %-5s %s' "$service" "$role" "$([ "$status" = 0 ] && echo ok || echo FAIL)" "${result:-exit status $status}")")
  done
done

echo
echo "===== schemathesis summary (seed $SEED, $EXAMPLES examples per operation) ====="
printf '%s\n' "${summaries[@]}"
if [ "$failures" -gt 0 ]; then
  for service in "${SERVICES[@]}"; do
    grep -E ' ERROR |panicked' "$work/$service.log" | tail -n 20 | sed "s/^/$service: /" >&2 || true
  done
  die "$failures of ${#summaries[@]} runs failed"
fi
echo "all ${#summaries[@]} runs passed"
