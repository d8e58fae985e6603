// README.md's shell examples, run as written (`-h 127.0.0.1`, the default port 1883) against
// the server as `npm start` runs it: built-in defaults and --demo. The TypeScript example runs
// in tests/e2e/vite.test.mjs, the Rust ones as doctests of pubzub-server. (`console` blocks are
// the set-up commands, which npm test itself runs.)
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { readFile } from "node:fs/promises";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const root = fileURLToPath(new URL("../..", import.meta.url));
let server;

before(async () => {
  server = spawn(`${root}/target/debug/pubzub-server`, ["--demo"], {
    cwd: root,
    env: { ...process.env, RUST_LOG: "warn,pubzub_server=info", NO_COLOR: "1", PUBZUB_DURABILITY: "off" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise((resolve, reject) => {
    server.once("exit", (code) => reject(new Error(`pubzub-server exited with ${code} (is port 1883 or 8080 taken?)`)));
    createInterface({ input: server.stdout }).on("line", (line) => {
      if (/mqtt listening on 127\.0\.0\.1:1883/.test(line)) resolve();
    });
  });
});

after(async () => {
  if (server && server.exitCode === null) {
    server.kill("SIGTERM");
    await once(server, "exit");
  }
});

test("the README's shell lines run as written against the server", async () => {
  const readme = await readFile(new URL("../../README.md", import.meta.url), "utf8");
  const blocks = [...readme.matchAll(/^```sh\n([\s\S]*?)^```/gm)].map((m) => m[1]);
  assert.ok(blocks.length > 0, "README.md has shell examples");
  for (const block of blocks) {
    const { stdout } = await promisify(execFile)("bash", ["-euo", "pipefail", "-c", block], { timeout: 20000 });
    if (block.includes("mosquitto_sub")) {
      assert.equal(stdout.split("\n").filter((l) => /^public\/truck\/truck-\d\/speed \d+$/.test(l)).length, 3, stdout);
    }
    if (block.includes("mosquitto_rr")) assert.match(stdout, /^hi$/m, stdout);
  }
});
