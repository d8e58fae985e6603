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

step "pubzub-core builds for wasm32"
cargo build -p pubzub-core --target wasm32-unknown-unknown

step "wasm tests in headless Chromium (the bridge against a real pubzub-server)"
cargo build -p pubzub-server
log="$(mktemp)"
target/debug/pubzub-server --http-port 0 --http-ip6 none --mqtt-port none --mqtts-port none >"$log" 2>&1 &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  port="$(grep -o 'http listening on 127.0.0.1:[0-9]*' "$log" | grep -o '[0-9]*$' || true)"
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { cat "$log"; echo "the test server did not start" >&2; exit 1; }
PUBZUB_TEST_WS="ws://127.0.0.1:$port/mqtt-transport" \
  wasm-pack test --mode no-install --headless --chrome --chromedriver "$(command -v chromedriver)" .
kill "$server_pid"
wait "$server_pid" 2>/dev/null || true
trap - EXIT

step "build the npm package"
bash scripts/build.sh

step "JS tests (the built package, and MQTT.js against the server)"
cargo build -p pubzub-server
node --test tests/js/
