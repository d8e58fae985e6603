#!/usr/bin/env bash
# Builds the page broker to WebAssembly (release, wasm-opt) into pkg-js/wasm, then the
# TypeScript package into pkg-js/dist.
set -euo pipefail
cd "$(dirname "$0")/.."

# wasm-opt from npm's binaryen comes first: Debian's binaryen 108 turns wasm-bindgen's externref
# table into a function table, and the module then fails to instantiate.
export PATH="$PWD/node_modules/.bin:$PATH"

# Nothing to do when no input of the package changed since the last build: a digest of every
# input file (and of this script) is kept next to the build's outputs.
inputs_digest() {
  git ls-files -co --exclude-standard -- Cargo.toml Cargo.lock src core/src core/Cargo.toml \
    pkg-js/src pkg-js/tsconfig.json pkg-js/package.json README.md LICENSE \
    scripts/build.sh scripts/minify-wasm-names.mjs | sort |
    while read -r f; do [ ! -f "$f" ] || sha256sum "$f"; done | sha256sum | cut -d' ' -f1
}
stamp=target/pkg-js.inputs
digest="$(inputs_digest)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$digest" ] && [ -f pkg-js/wasm/pubzub_bg.wasm ] \
  && [ -f pkg-js/wasm-local/pubzub_bg.wasm ] && [ -f pkg-js/dist/index.js ]; then
  echo "[build] the package is up to date"
  exit 0
fi

# Two modules: `pubzub` with the bridge to the server, `pubzub/local` without it.
for build in "wasm" "wasm-local --no-default-features"; do
  set -- $build
  dir="pkg-js/$1"
  shift
  wasm-pack build --mode no-install --release --target web --out-dir "$dir" --out-name pubzub . -- "$@"
  # One- or two-letter import and export names instead of wasm-bindgen's hashed ones.
  node scripts/minify-wasm-names.mjs "$dir" pubzub
  # wasm-pack writes a package.json and README of its own; the package is pkg-js itself.
  rm -f "$dir/package.json" "$dir/README.md" "$dir/.gitignore" "$dir/LICENSE"
done
# The package ships the repository's README and LICENSE (copies; pkg-js/.gitignore has them).
cp README.md LICENSE pkg-js/
npx tsc -p pkg-js
mkdir -p target && echo "$digest" >"$stamp"
