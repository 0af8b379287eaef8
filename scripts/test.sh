#!/usr/bin/env bash
# Runs the whole test suite against a throwaway MongoDB on a free port, then stops it, and exits
# with the suite's status. With MONGO_URI set, the tests use that server instead (each test makes
# and drops its own database there). Extra arguments go to `cargo test`, e.g. a test-name filter.
#
# After `cargo test`, the suites that drive the built services from outside run too (only when no
# filter is given): scripts/check-deploy.sh, scripts/gateway-test.sh, scripts/schemathesis.sh,
# scripts/browser-test.sh (the storefront in headless Chromium) and scripts/failover-test.sh (a
# three-member replica set failing over under load).
#
# The last line sums up the whole run as `N passed, M failed` (and `, K ignored` when some were),
# added up over every test binary, since cargo's own last line only counts the doc tests.
set -euo pipefail
cd "$(dirname "$0")/.."
log() { echo "test.sh: $*" >&2; }
# shellcheck source=scripts/lib/tools.sh
. scripts/lib/tools.sh
# shellcheck source=scripts/lib/stack.sh
. scripts/lib/stack.sh

# Tests that take a database away and bring it back run a private mongod from this binary.
MONGOD_BIN=$(scripts/mongodb.sh install)
export MONGOD_BIN

# The user service's mail tests send through a real SMTP server, aiosmtpd, run from this folder.
AIOSMTPD_PATH=$(tools_install mail)
export AIOSMTPD_PATH

# Compile first, so a build error does not leave a database running and no time is spent with
# one idle.
cargo test --workspace --locked --no-run

# MongoDB, stopped (with its temporary folder) on exit; the suites below use it too, each with a
# database of its own.
stack_init ecommerce-test
stack_start_mongodb
output="$stack_tmp/output"

# The tests' own output (stdout, where the `test result:` lines are) is shown and kept for the
# sum; cargo's progress on stderr goes straight to the terminal.
set +e
cargo test --workspace --locked --no-fail-fast "$@" | tee "$output"
status=${PIPESTATUS[0]}
set -e

# The suites that run the built services from outside, each one line in the sum: the deploy files
# against their schemas and the code, the nginx gateway in front of the services, the OpenAPI
# documents fuzzed against the running services, the storefront in a browser, and the services
# through MongoDB failovers (on replica set members of its own, not this MongoDB).
suites=(scripts/check-deploy.sh scripts/gateway-test.sh scripts/schemathesis.sh scripts/browser-test.sh
  scripts/failover-test.sh)
[ $# -eq 0 ] || suites=()
for suite in "${suites[@]}"; do
  echo
  echo "== $suite"
  if bash "$suite"; then
    echo "test result: ok. 1 passed; 0 failed; 0 ignored; ($suite)" >>"$output"
  else
    echo "test result: FAILED. 0 passed; 1 failed; 0 ignored; ($suite)" >>"$output"
    status=1
  fi
done

# `test result: ok. 12 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in …`
summary=$(awk '
  /^test result: / {
    for (i = 4; i < NF; i++) {
      if ($(i + 1) == "passed;") passed += $i
      if ($(i + 1) == "failed;") failed += $i
      if ($(i + 1) == "ignored;") ignored += $i
    }
  }
  END {
    line = sprintf("%d passed, %d failed", passed, failed)
    if (ignored > 0) line = line sprintf(", %d ignored", ignored)
    print line
  }
' "$output")
# Stop MongoDB first, so nothing it says can come after the sum.
stack_stop
echo "$summary"
exit "$status"
