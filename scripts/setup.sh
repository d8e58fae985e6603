#!/usr/bin/env bash
# Idempotent set-up for a fresh machine: installs only what is missing, says what it does,
# and takes seconds when everything is already there. Used by `npm start` and `npm test`.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[setup] %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Rust target for the page broker.
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

# wasm-bindgen-cli must be exactly the version in Cargo.lock (the crate pins it with =).
want_bindgen=$(awk '$0 == "name = \"wasm-bindgen\"" { getline; gsub(/"/, "", $3); print $3 }' Cargo.lock)
have_bindgen=$(wasm-bindgen --version 2>/dev/null | awk '{ print $2 }' || true)
if [ "$have_bindgen" != "$want_bindgen" ]; then
  say "installing wasm-bindgen-cli $want_bindgen (found: ${have_bindgen:-none}); takes a few minutes"
  cargo install wasm-bindgen-cli --version "$want_bindgen" --force
fi

if ! command -v wasm-pack >/dev/null; then
  say "installing wasm-pack; takes a few minutes"
  cargo install wasm-pack
fi

# Debian packages: headless Chromium and its driver for browser tests, mosquitto as a peer
# broker and its clients for interoperability tests, binaryen for wasm-opt.
missing=()
for pkg in chromium chromium-driver mosquitto mosquitto-clients binaryen; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

# JavaScript dependencies, when the lock file changed since the last install.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "npm ci"
  npm ci --no-audit --no-fund
fi

say "ready"
