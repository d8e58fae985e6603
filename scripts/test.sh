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
cargo clippy -p pubzub --target wasm32-unknown-unknown --no-default-features --all-targets -- -D warnings # pubzub/local
cargo clippy -p pubzub-core --no-default-features -- -D warnings # the page's client-only build

step "cargo test (workspace)"
cargo test --workspace

step "pubzub-core as the page builds it (tree and retained store over sorted vectors)"
cargo test -p pubzub-core --no-default-features --lib --test tree_props

step "pubzub-core builds for wasm32"
cargo build -p pubzub-core --target wasm32-unknown-unknown

step "wasm tests in headless Chromium (the module's own exports)"
wasm-pack test --mode no-install --headless --chrome --chromedriver "$(command -v chromedriver)" .

step "build the npm package"
bash scripts/build.sh

step "API reference (TypeDoc and cargo doc, warnings are errors)"
bash scripts/docs.sh

step "type tests of the npm package"
npx tsc -p tests/types

step "JS tests (the built package in Node, and MQTT.js against the server)"
cargo build -p pubzub-server
node --test --test-timeout 120000 tests/js/

step "the package in headless Chromium: the bridge against the real server, under faults"
# One file at a time: the tests restart, stop and freeze their server and time reconnects.
node --test --test-concurrency=1 --test-timeout 120000 tests/page/

step "end to end: the demo pages in headless Chromium (screenshots in test-artifacts/)"
node --test --test-timeout 120000 tests/e2e/
