// The npm package as a user gets it: `npm pack`, installed into a fresh Vite 7 project made
// here, bundled by `vite build`, served by pubzub-server and run in Chromium: the page
// publishes and receives a message locally and through the server, and then runs the
// TypeScript example of README.md as written (against the server as `npm start` runs it,
// with --demo). Prints the gzip size of what the user ships, and its ratio to MQTT.js's
// browser build (a client only) as a peer.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import { chromium } from "playwright-core";

import { chromiumOptions, startServer } from "./server.mjs";

const run = promisify(execFile);
const pkgDir = fileURLToPath(new URL("../../pkg-js", import.meta.url));
// The file a bundler takes for `import mqtt from "mqtt"` in a browser (its exports map).
const mqttJsBrowser = fileURLToPath(new URL("../../node_modules/mqtt/dist/mqtt.esm.js", import.meta.url));
/** The opt-in parts of the package, each as a page would use it (built on top of the local page). */
const PARTS = {
  "models-storage": `import { localStorageModel, sessionStorageModel } from "pubzub/models";
localStorageModel(pubzub);
sessionStorageModel(pubzub);`,
  "models-location": `import { locationModel } from "pubzub/models";
locationModel(pubzub);`,
  "models-page": `import { documentModel, windowModel } from "pubzub/models";
documentModel(pubzub);
windowModel(pubzub);`,
  "live-element": `import { defineLive } from "pubzub/live";
defineLive(pubzub);`,
  "live-events": `import { wireEvents } from "pubzub/live";
wireEvents(pubzub);`,
  "all-parts": `import * as models from "pubzub/models";
import { defineLive, wireEvents } from "pubzub/live";
for (const model of [models.localStorageModel, models.sessionStorageModel, models.locationModel, models.documentModel, models.windowModel]) model(pubzub);
defineLive(pubzub);
wireEvents(pubzub);`,
};
let project;
let server;
let localServer;
let browser;

const page = {
  "package.json": JSON.stringify({ name: "vite-user", private: true, type: "module" }),
  "index.html": `<!doctype html>
<html><head><meta charset="utf-8"><title>pubzub in Vite</title></head>
<body><p id="local">waiting</p><p id="server">waiting</p><p id="readme">waiting</p>
<script type="module" src="/main.ts"></script></body></html>
`,
  "main.ts": `import pubzub from "pubzub";

const show = (id: string, text: string) => { document.getElementById(id)!.textContent = text; };
pubzub.subscribe("hello/+who", (msg, { who }) => show("local", \`\${who}: \${msg.payload}\`));
pubzub.publish("hello/vite", "local message");

pubzub.subscribe("bridge/origin/public/vite/+who", (msg, b) => show("server", \`\${b.who}: \${msg.payload}\`), { qos: 1 });
await pubzub.connect();
await pubzub.publish("bridge/origin/public/vite/roundtrip", "through the server", { qos: 1 });

// README.md's example, taken out of the README as it is.
await import("./readme.ts").then(
  () => show("readme", "the README example ran"),
  (e) => show("readme", \`the README example failed: \${e}\`),
);
`,
  "readme.ts": await readmeBlock("ts"),
  // A second page, built on its own: a page that only publishes locally, with pubzub/local.
  "local/index.html": `<!doctype html>
<html><head><meta charset="utf-8"><title>pubzub/local in Vite</title></head>
<body><p id="local">waiting</p><script type="module" src="./main.ts"></script></body></html>
`,
  "local/main.ts": `import pubzub from "pubzub/local";

pubzub.subscribe("cart/+item", (msg, { item }) => {
  document.getElementById("local")!.textContent = \`\${item}: \${msg.payload}\`;
});
pubzub.publish("cart/apple", 3);
`,  // The same page with each opt-in part of the package: what each adds to the bundle.
  ...Object.fromEntries(
    Object.entries(PARTS).flatMap(([part, code]) => [
      [`${part}/index.html`, `<!doctype html>
<html><head><meta charset="utf-8"><title>pubzub/local with ${part}</title></head>
<body><p id="local">waiting</p><script type="module" src="./main.ts"></script></body></html>
`],
      [`${part}/main.ts`, `import pubzub from "pubzub/local";
${code}
pubzub.subscribe("cart/+item", (msg, { item }) => {
  document.getElementById("local")!.textContent = \`\${item}: \${msg.payload}\`;
});
pubzub.publish("cart/apple", 3);
`],
    ]),
  ),
};

/** The first code block of README.md in `language`. */
async function readmeBlock(language) {
  const readme = await readFile(new URL("../../README.md", import.meta.url), "utf8");
  const block = readme.match(new RegExp("^```" + language + "\\n([\\s\\S]*?)^```", "m"));
  assert.ok(block, `README.md has a ${language} block`);
  return block[1];
}

let packed = [];

before(async () => {
  project = await mkdtemp(join(tmpdir(), "pubzub-vite-"));
  const { stdout } = await run("npm", ["pack", "--pack-destination", project, "--json"], { cwd: pkgDir });
  const [{ filename, files }] = JSON.parse(stdout);
  packed = files.map((f) => f.path);
  for (const dir of ["local", ...Object.keys(PARTS)]) await mkdir(join(project, dir));
  for (const [name, text] of Object.entries(page)) await writeFile(join(project, name), text);
  await run("npm", ["install", "--no-audit", "--no-fund", join(project, filename), "vite@7"], { cwd: project });
  await run("npx", ["vite", "build"], { cwd: project });
  for (const dir of ["local", ...Object.keys(PARTS)]) {
    await run("npx", ["vite", "build", dir, "--outDir", `../dist-${dir}`], { cwd: project });
  }
  server = await startServer("--www-dir", join(project, "dist"), "--demo");
  localServer = await startServer("--www-dir", join(project, "dist-local"));
  browser = await chromium.launch(chromiumOptions);
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await localServer?.stop();
  if (project) await rm(project, { recursive: true, force: true });
});

test("the package ships its README and LICENSE", () => {
  assert.ok(packed.includes("README.md") && packed.includes("LICENSE"), packed.join(", "));
});

test("a Vite 7 project bundles the packed package and the page works", async () => {
  const p = await browser.newPage();
  const problems = [];
  p.on("pageerror", (e) => problems.push(e.message));
  await p.goto(server.http);
  await p.locator("#local", { hasText: "vite: local message" }).waitFor();
  await p.locator("#server", { hasText: "roundtrip: through the server" }).waitFor();
  assert.deepEqual(problems, []);
});

test("the README's TypeScript example runs as written in that page", async () => {
  const p = await browser.newPage();
  const problems = [];
  const logged = [];
  p.on("pageerror", (e) => problems.push(e.message));
  p.on("console", (m) => (m.type() === "error" ? problems : logged).push(m.text()));
  await p.goto(server.http);
  await p.locator("#readme", { hasText: "the README example" }).waitFor({ timeout: 20000 });
  assert.equal(await p.locator("#readme").textContent(), "the README example ran");
  assert.ok(logged.includes('7 [engine, temp] {celsius: 90}') || logged.some((l) => l.startsWith("7 ")), logged.join("\n"));
  assert.ok(logged.includes("hi"), `the echo's reply is logged: ${logged.join(" | ")}`);
  assert.deepEqual(problems, []);
});

test("a page with pubzub/local bundles its own, smaller module and works", async () => {
  const p = await browser.newPage();
  const problems = [];
  p.on("pageerror", (e) => problems.push(e.message));
  await p.goto(localServer.http);
  await p.locator("#local", { hasText: "apple: 3" }).waitFor();
  assert.deepEqual(problems, []);
});

/** The gzip (level 9) sizes of the wasm and JS a `vite build` emitted into `dist`. */
async function shipped(dist) {
  const assets = join(project, dist, "assets");
  const sizes = {};
  for (const name of await readdir(assets)) {
    const kind = name.endsWith(".wasm") ? "wasm" : name.endsWith(".js") ? "js" : null;
    if (kind) sizes[kind] = (sizes[kind] ?? 0) + gzipSync(await readFile(join(assets, name)), { level: 9 }).length;
  }
  assert.ok(sizes.wasm > 0 && sizes.js > 0, JSON.stringify(sizes));
  return sizes;
}

test("what the user ships: the wasm and JS of the bundle, gzipped", async () => {
  const kb = (n) => (n / 1024).toFixed(1);
  const full = await shipped("dist");
  const local = await shipped("dist-local");
  const peer = gzipSync(await readFile(mqttJsBrowser), { level: 9 }).length;
  for (const [name, sizes] of [["pubzub", full], ["pubzub/local", local]]) {
    const total = sizes.wasm + sizes.js;
    console.log(`SIZE vite bundle gzip, ${name}: wasm ${kb(sizes.wasm)} KiB + js ${kb(sizes.js)} KiB = ${kb(total)} KiB (target 40)`);
  }
  // A page that imports none of the parts ships none of their code.
  for (const dist of ["dist", "dist-local"]) {
    const assets = join(project, dist, "assets");
    for (const name of (await readdir(assets)).filter((n) => n.endsWith(".js"))) {
      const js = await readFile(join(assets, name), "utf8");
      assert.ok(!/model\/(localStorage|location|document|window)|pubzub-live|data-on/.test(js), `${dist}/${name} has none of the parts`);
    }
  }
  for (const part of Object.keys(PARTS)) {
    const withPart = await shipped(`dist-${part}`);
    assert.equal(withPart.wasm, local.wasm, `${part} adds no wasm`);
    const added = withPart.js - local.js;
    console.log(`SIZE vite bundle gzip, pubzub/local + ${part}: js ${kb(withPart.js)} KiB, ${added} bytes more than none`);
    assert.ok(added > 0, `${part} is in the bundle only when imported`);
  }
  console.log(`SIZE MQTT.js browser build (dist/mqtt.esm.js) gzip: ${kb(peer)} KiB`);
  console.log(`RATIO pubzub page bundle / MQTT.js browser build = ${((full.wasm + full.js) / peer).toFixed(2)}`);
  assert.ok(local.wasm + local.js < full.wasm + full.js, "pubzub/local is the smaller bundle");
});
