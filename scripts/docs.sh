#!/usr/bin/env bash
# The API reference, from the doc comments: TypeDoc for the npm package (target/doc/pubzub-js)
# and `cargo doc` for the crates (target/doc). Warnings are errors, so that a broken link or an
# undocumented export fails `npm test`.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f pkg-js/wasm/pubzub.js ] || bash scripts/build.sh
npx typedoc --tsconfig pkg-js/tsconfig.json --entryPoints pkg-js/src/index.ts --entryPoints pkg-js/src/local.ts \
  --out target/doc/pubzub-js --treatWarningsAsErrors --readme none --disableSources --excludeProtected --excludeInternal \
  --intentionallyNotExported Simplify --intentionallyNotExported PatternBindings --intentionallyNotExported ErrorHook
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps -p pubzub-core -p pubzub-server -p pubzub
echo "API reference: target/doc/pubzub-js/index.html and target/doc/pubzub_core/index.html"
