// The page benchmark: pubzub's page broker (the built package, as users import it) next to
// qlobber 8 and mqemitter 7 in one headless Chromium page, on the same workloads. Rounds
// alternate which implementation goes first; medians are printed with RATIO lines
// (pubzub / peer; above 1 is faster, for memory below 1 is smaller). Memory is measured in a
// fresh page per implementation. Usage: node scripts/bench-page/run.mjs [rounds]
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import http from "node:http";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";
import { chromium } from "playwright-core";

const root = fileURLToPath(new URL("../..", import.meta.url));
const here = fileURLToPath(new URL(".", import.meta.url));
const out = join(root, "target/bench-page");
const rounds = Number(process.argv[2] ?? 5);

execFileSync("bash", [join(root, "scripts/build.sh")], { stdio: "inherit" });
mkdirSync(out, { recursive: true });
const shim = (name) => join(here, "shims", `${name}.cjs`);
await esbuild.build({
  entryPoints: [join(here, "peers.js")],
  bundle: true,
  format: "esm",
  platform: "browser",
  outfile: join(out, "peers.js"),
  alias: { util: shim("util"), assert: shim("assert"), stream: shim("stream") },
  // mqemitter defers a listener's removal with Node's setImmediate.
  banner: { js: "globalThis.setImmediate ??= (f, ...args) => setTimeout(f, 0, ...args);" },
  logLevel: "warning",
});
writeFileSync(join(out, "page.js"), readFileSync(join(here, "page.js")));
writeFileSync(join(out, "index.html"), '<!doctype html><meta charset="utf-8"><script type="module" src="page.js"></script>');

const types = { ".js": "text/javascript", ".html": "text/html", ".wasm": "application/wasm" };
const server = http.createServer((req, res) => {
  const path = normalize(decodeURIComponent(new URL(req.url, "http://x").pathname));
  const file = path.startsWith("/pkg/") ? join(root, "pkg-js", path.slice(5)) : join(out, path === "/" ? "index.html" : path);
  try {
    const body = readFileSync(file);
    res.writeHead(200, { "Content-Type": types[extname(file)] ?? "application/octet-stream" });
    res.end(body);
  } catch {
    res.writeHead(404).end();
  }
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const url = `http://127.0.0.1:${server.address().port}/`;

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--js-flags=--expose-gc", "--enable-precise-memory-info"],
});
async function freshPage() {
  const page = await browser.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(e.message));
  await page.goto(url);
  await page.waitForFunction(() => window.benchReady === true);
  return { page, problems };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (x) => (x >= 1e6 ? `${(x / 1e6).toFixed(2)} M` : x >= 1e3 ? `${(x / 1e3).toFixed(1)} k` : x.toFixed(0));

const { page, problems } = await freshPage();
const { implementations, workloads } = await page.evaluate(() => ({ implementations: bench.implementations, workloads: bench.workloads }));
const results = {}; // results[workload][impl][metric] = [values]
for (let round = 0; round < rounds; round++) {
  const order = round % 2 === 0 ? implementations : [...implementations].reverse();
  for (const workload of workloads) {
    for (const impl of order) {
      const r = await page.evaluate(([w, i]) => bench.run(w, i), [workload, impl]);
      for (const [metric, value] of Object.entries(r)) {
        ((results[workload] ??= {})[impl] ??= {})[metric] ??= [];
        results[workload][impl][metric].push(value);
      }
    }
  }
}
const retained = [];
for (let round = 0; round < rounds; round++) retained.push((await page.evaluate(() => bench.retained1000()))["deliveries/s"]);
const memory = {};
for (const impl of implementations) {
  const fresh = await freshPage();
  memory[impl] = await fresh.page.evaluate((i) => bench.memory(i), impl);
  await fresh.page.close();
}
await browser.close();
server.close();
if (problems.length) throw new Error(`the page reported errors: ${problems.join("; ")}`);

console.log(`# page broker benchmark, headless Chromium, medians of ${rounds} rounds`);
for (const [workload, byImpl] of Object.entries(results)) {
  // Every implementation must have delivered the same number of messages.
  const deliveries = implementations.map((i) => byImpl[i].deliveries?.[0]);
  if (deliveries[0] !== undefined && new Set(deliveries).size !== 1) {
    throw new Error(`${workload}: the implementations delivered ${deliveries.join(" / ")} messages`);
  }
  for (const metric of Object.keys(byImpl.pubzub).filter((m) => m !== "deliveries")) {
    const m = Object.fromEntries(implementations.map((i) => [i, median(byImpl[i][metric])]));
    console.log(`${workload} ${metric}: ${implementations.map((i) => `${i} ${fmt(m[i])}`).join(", ")}`);
    for (const peer of implementations.filter((i) => i !== "pubzub")) {
      console.log(`RATIO ${workload} ${metric} pubzub/${peer} = ${(m.pubzub / m[peer]).toFixed(2)}`);
    }
  }
}
console.log(`retained1000 deliveries/s: pubzub ${fmt(median(retained))} (a wildcard subscribe matching 1,000 retained messages)`);
console.log(`memory, 10,000 subscriptions: ${implementations.map((i) => `${i} ${(memory[i].bytes / 1e6).toFixed(2)} MB`).join(", ")}` +
  ` (pubzub: JS heap ${(memory.pubzub["JS heap bytes"] / 1e6).toFixed(2)} MB + wasm memory grown ${(memory.pubzub["wasm memory bytes"] / 1e6).toFixed(2)} MB)`);
for (const peer of implementations.filter((i) => i !== "pubzub")) {
  console.log(`RATIO memory pubzub/${peer} = ${(memory.pubzub.bytes / memory[peer].bytes).toFixed(2)}`);
}
