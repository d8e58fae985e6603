// Shortens the import, export and module names of wasm-bindgen's output and rewrites its JS
// glue and type declarations to match.
//
// wasm-bindgen names every import after its JS function plus a 16-digit hash
// (`__wbg_set_onmessage_26abc49cfa5f9ffc`), and each name is shipped twice: in the .wasm and in
// the glue. binaryen's `--minify-imports-and-exports-and-modules` renames them to one or two
// characters and prints the mapping, which this script applies to the glue. About 3 KB gzip
// off what a page ships.
//
// Usage: node scripts/minify-wasm-names.mjs <dir> <name>   (files <dir>/<name>.js, .d.ts,
// <name>_bg.wasm, <name>_bg.wasm.d.ts). Fails, changing nothing, when the glue does not have
// the shape this script knows.
import { execFileSync } from "node:child_process";
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const [dir, name] = process.argv.slice(2);
if (!dir || !name) {
  console.error("usage: minify-wasm-names.mjs <dir> <name>");
  process.exit(2);
}
const wasm = join(dir, `${name}_bg.wasm`);
const glue = join(dir, `${name}.js`);
const types = join(dir, `${name}.d.ts`);
const wasmTypes = join(dir, `${name}_bg.wasm.d.ts`);

// The features wasm-bindgen's output uses; wasm-opt must be told to keep them.
const features = [
  "--enable-reference-types",
  "--enable-multivalue",
  "--enable-bulk-memory",
  "--enable-sign-ext",
  "--enable-nontrapping-float-to-int",
  "--enable-mutable-globals",
];
const minified = `${wasm}.min`;
const mapping = JSON.parse(
  execFileSync(
    "wasm-opt",
    [wasm, ...features, "--minify-imports-and-exports-and-modules", "-o", minified],
    { encoding: "utf8" },
  ),
);

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
/** Replaces every match of `pattern` exactly `expected` times, or fails. */
function replaceExactly(text, pattern, replacement, expected, what) {
  let count = 0;
  const out = text.replace(pattern, (...m) => {
    count += 1;
    return typeof replacement === "function" ? replacement(...m) : replacement;
  });
  if (count !== expected) {
    throw new Error(`${what}: expected ${expected} occurrence(s), found ${count}`);
  }
  return out;
}

let js = readFileSync(glue, "utf8");
let dts = readFileSync(types, "utf8");
let wasmDts = readFileSync(wasmTypes, "utf8");

// binaryen puts every import into one module with a short name; the mapping gives the names.
const moduleOf = (file) => [
  ...new Set(WebAssembly.Module.imports(new WebAssembly.Module(readFileSync(file))).map((i) => i.module)),
];
const [oldModule, ...otherOld] = moduleOf(wasm);
const [newModule, ...otherNew] = moduleOf(minified);
if (otherOld.length || otherNew.length) throw new Error("expected the imports of one module");
for (const [module, base, short] of mapping.imports) {
  if (module !== oldModule) throw new Error(`import ${base} from ${module}`);
  js = replaceExactly(
    js,
    new RegExp(`^(\\s+)${escape(base)}:`, "m"),
    (_, indent) => `${indent}${JSON.stringify(short)}:`,
    1,
    `import ${base}`,
  );
}
js = replaceExactly(
  js,
  new RegExp(`^(\\s+)${escape(JSON.stringify(oldModule))}:`, "m"),
  (_, indent) => `${indent}${JSON.stringify(newModule)}:`,
  1,
  `module ${oldModule}`,
);
// Exports: renamed in one pass each, so a new name can never be renamed again.
const identifier = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const exports = new Map(mapping.exports);
for (const [long, short] of exports) {
  if (!identifier.test(short)) throw new Error(`export ${long} became ${short}`);
}
const rename = (prefix, suffix = "") => (whole, name) =>
  exports.has(name) ? `${prefix}${exports.get(name)}${suffix}` : whole;
js = js.replace(/\bwasm\.([A-Za-z0-9_$]+)\b/g, rename("wasm."));
const left = [...js.matchAll(/\bwasm\.([A-Za-z0-9_$]+)\b/g)].filter(([, n]) => !identifier.test(n) || n.length > 2);
if (left.length) throw new Error(`exports the mapping does not name: ${left.map(([w]) => w).join(", ")}`);
// The declarations list the exports wasm-bindgen exposes (not, e.g., its abort handler).
dts = dts.replace(/\breadonly ([A-Za-z0-9_$]+):/g, rename("readonly ", ":"));
wasmDts = wasmDts.replace(/\bexport const ([A-Za-z0-9_$]+):/g, rename("export const ", ":"));

writeFileSync(glue, js);
writeFileSync(types, dts);
writeFileSync(wasmTypes, wasmDts);
renameSync(minified, wasm);
console.log(
  `minify-wasm-names: ${mapping.imports.length} imports, ${mapping.exports.length} exports renamed`,
);
