#!/usr/bin/env bash
# Every test of the repository. Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n=== %s ===\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, -D warnings)"
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy -p pubzub --target wasm32-unknown-unknown -- -D warnings

step "cargo test (workspace)"
cargo test --workspace

step "pubzub-core builds for wasm32"
cargo build -p pubzub-core --target wasm32-unknown-unknown

step "wasm tests in headless Chromium"
wasm-pack test --mode no-install --headless --chrome --chromedriver "$(command -v chromedriver)" .

step "build the npm package"
bash scripts/build.sh

step "JS tests (the built package, and MQTT.js against the server)"
cargo build -p pubzub-server
node --test tests/js/
