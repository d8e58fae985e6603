#!/usr/bin/env bash
# Every test of the repository. Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n=== %s ===\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, -D warnings)"
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy -p pubzub --target wasm32-unknown-unknown --all-targets -- -D warnings
cargo clippy -p pubzub-core --no-default-features -- -D warnings # the page's client-only build

step "cargo test (workspace)"
cargo test --workspace

step "pubzub-core as the page builds it (tree and retained store over sorted vectors)"
cargo test -p pubzub-core --no-default-features --lib --test tree_props

step "pubzub-core builds for wasm32"
cargo build -p pubzub-core --target wasm32-unknown-unknown

step "wasm tests in headless Chromium (the bridge against a real pubzub-server)"
cargo build -p pubzub-server
# The server for the bridge tests runs under a control script that can restart or freeze it.
control_out="$(mktemp)"
node tests/support/server-control.mjs target/debug/pubzub-server >"$control_out" &
control_pid=$!
trap 'kill "$control_pid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  grep -q '^ws=' "$control_out" && break
  sleep 0.1
done
grep -q '^ws=' "$control_out" || { echo "the test server did not start" >&2; exit 1; }
ws_url="$(sed -n 's/^ws=\([^ ]*\) control=.*/\1/p' "$control_out")"
control_url="$(sed -n 's/^ws=[^ ]* control=\(.*\)$/\1/p' "$control_out")"
PUBZUB_TEST_WS="$ws_url" PUBZUB_TEST_CONTROL="$control_url" \
  wasm-pack test --mode no-install --headless --chrome --chromedriver "$(command -v chromedriver)" .
kill "$control_pid"
wait "$control_pid" 2>/dev/null || true
trap - EXIT

step "build the npm package"
bash scripts/build.sh

step "API reference (TypeDoc and cargo doc, warnings are errors)"
bash scripts/docs.sh

step "type tests of the npm package"
npx tsc -p tests/types

step "JS tests (the built package, and MQTT.js against the server)"
cargo build -p pubzub-server
node --test --test-timeout 120000 tests/js/

step "end to end: the demo pages in headless Chromium (screenshots in test-artifacts/)"
node --test --test-timeout 120000 tests/e2e/
