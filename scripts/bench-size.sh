#!/usr/bin/env bash
# The page's wasm against its floor: scripts/size-floor, the pubzub-core parts the page needs
# behind number-and-bytes exports, built exactly as the page is (wasm-pack release, the same
# wasm-opt passes, short import/export names). The difference is what the page broker's
# JS-facing layer costs. What a user ships, JS included, is measured by tests/e2e/vite.test.mjs.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# The floor is only a floor if it is built as the page is: same release profile, same passes.
table() { awk -v t="$1" '$0 == t { on = 1; next } /^\[/ { on = 0 } on && NF && !/^#/' "$2"; }
for t in '[profile.release]' '[package.metadata.wasm-pack.profile.release]'; do
  if [ "$(table "$t" Cargo.toml)" != "$(table "$t" scripts/size-floor/Cargo.toml)" ]; then
    echo "scripts/size-floor/Cargo.toml: $t differs from Cargo.toml's" >&2
    exit 1
  fi
done

# Quiet unless a step fails.
quiet() { "$@" > "$out/log" 2>&1 || { cat "$out/log"; exit 1; }; }
quiet bash scripts/build.sh
CARGO_TARGET_DIR="$PWD/target/size-floor" quiet wasm-pack build --mode no-install --release \
  --target web --out-dir "$out" --out-name floor scripts/size-floor
quiet node scripts/minify-wasm-names.mjs "$out" floor

# node's zlib, as tests/e2e/vite.test.mjs uses (GNU gzip packs the same file 0.7% smaller).
gz() { node -e 'const { readFileSync } = require("node:fs");
  console.log(require("node:zlib").gzipSync(readFileSync(process.argv[1]), { level: 9 }).length)' "$1"; }
page=$(gz pkg-js/wasm/pubzub_bg.wasm)
floor=$(gz "$out/floor_bg.wasm")
# The parts of both page modules, from builds that keep their names (before wasm-opt).
command -v twiggy >/dev/null || quiet cargo install twiggy --version 0.8.0 --locked
for features in "" "--no-default-features"; do
  quiet cargo build --release --target wasm32-unknown-unknown $features
  quiet wasm-bindgen --target web --keep-debug --out-dir "$out/named" --out-name pubzub \
    target/wasm32-unknown-unknown/release/pubzub.wasm
  shipped=pkg-js/wasm/pubzub_bg.wasm
  [ -z "$features" ] || shipped=pkg-js/wasm-local/pubzub_bg.wasm
  echo "parts of $shipped:"
  node scripts/size-parts.mjs "$out/named/pubzub_bg.wasm" "$shipped"
done
awk -v p="$page" -v f="$floor" 'BEGIN {
  printf "SIZE wasm gzip: page %.1f KiB, floor (pubzub-core parts only) %.1f KiB\n", p / 1024, f / 1024
  printf "SIZE the page broker layer beyond the floor: %.1f KiB\n", (p - f) / 1024
  printf "RATIO page wasm / floor wasm = %.2f\n", p / f }'
