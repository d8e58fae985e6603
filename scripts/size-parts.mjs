// The page wasm by part: which crate and module each function belongs to, from a build that
// keeps its names (`twiggy top` over the wasm before wasm-opt), as shares of the code, and
// those shares applied to the gzip size of the shipped module. Usage:
//   node scripts/size-parts.mjs <wasm with names> <shipped wasm>
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";

const [named, shipped] = process.argv.slice(2);
if (!named || !shipped) {
  console.error("usage: size-parts.mjs <wasm with names> <shipped wasm>");
  process.exit(2);
}

// The first part whose pattern the (demangled) name contains: pubzub's own parts first, so
// that `drop_in_place<pubzub_core::packet::Packet>` counts as the codec's, not the std's.
const parts = [
  ["pubzub-core: codec (packets, wire format, decoder, encoder)", /pubzub_core::(codec|packet|wire|error|reason)/],
  ["pubzub-core: MQTT client session", /pubzub_core::client/],
  ["pubzub-core: tree, topics, retained store", /pubzub_core::(tree|topic|retained|level_map|bytestr|time)/],
  ["page engine (src/local.rs)", /pubzub::local|engine_/],
  ["bridge (src/bridge, its JS objects and errors)", /pubzub::(bridge|js|listener|id_map)|bridge_/],
  ["wasm-bindgen, js-sys, web-sys, gloo glue", /wasm_bindgen|js_sys|web_sys|gloo|__wbindgen|__wbg|__externref|console_error_panic_hook/],
  ["allocator (talc)", /talc/],
  ["bytes", /\bbytes::/],
  ["hash tables (hashbrown)", /hashbrown/],
  ["Rust std: formatting, strings, collections, panics", /\b(core|alloc|std)\b/],
  ["data: strings and tables", /^data segment/],
];

const csv = execFileSync("twiggy", ["top", "-f", "csv", named], { encoding: "utf8", maxBuffer: 64 << 20 });
const sums = new Map(parts.map(([name]) => [name, 0]));
let other = 0;
let total = 0;
for (const line of csv.split("\n").slice(1)) {
  const m = line.match(/^"?(.*?)"?,(\d+),/);
  if (!m) continue;
  const [, item, size] = m;
  if (item.includes("function names") || item.includes("custom section") || item.includes('"name"')) continue;
  const bytes = Number(size);
  total += bytes;
  const best = parts.find(([, re]) => re.test(item))?.[0];
  if (best) sums.set(best, sums.get(best) + bytes);
  else other += bytes;
}
const gz = gzipSync(readFileSync(shipped), { level: 9 }).length;
console.log(`| part | bytes before wasm-opt | share | about KiB of the ${(gz / 1024).toFixed(1)} KiB gzip |`);
console.log("|---|---|---|---|");
for (const [name, bytes] of [...sums, ["other", other]].sort((a, b) => b[1] - a[1])) {
  if (bytes === 0) continue;
  const share = bytes / total;
  console.log(`| ${name} | ${bytes.toLocaleString("en")} | ${(100 * share).toFixed(1)}% | ${((share * gz) / 1024).toFixed(1)} |`);
}
