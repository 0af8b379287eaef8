#!/usr/bin/env bash
# Runs the whole test suite against a throwaway MongoDB on a free port, then stops it, and exits
# with the suite's status. With MONGO_URI set, the tests use that server instead (each test makes
# and drops its own database there). Extra arguments go to `cargo test`, e.g. a test-name filter.
set -euo pipefail
cd "$(dirname "$0")/.."

# Tests that take a database away and bring it back run a private mongod from this binary.
MONGOD_BIN=$(scripts/mongodb.sh install)
export MONGOD_BIN

# Compile first, so a build error does not leave a database running and no time is spent with
# one idle.
cargo test --workspace --locked --no-run

if [ -z "${MONGO_URI:-}" ]; then
  data=$(mktemp -d "${TMPDIR:-/tmp}/ecommerce-test-mongodb.XXXXXX")
  trap 'scripts/mongodb.sh stop --dbpath "$data" || true; rm -rf "$data"' EXIT
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  MONGO_URI=$(scripts/mongodb.sh start --port "$port" --dbpath "$data")
  export MONGO_URI
fi

cargo test --workspace --locked "$@"
