// The browser tests' harness: the real pubzub-server under its control script (which can
// restart, stop and freeze it, and serves the test page and the built package), one headless
// Chromium, and `inPage(test)`: runs a test function in a fresh page of its own, where
// `window.pz` is the package and `window.h` the helpers of helpers.js. A test fails if its
// page reports an uncaught error or an unhandled rejection.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

import { chromiumOptions } from "../e2e/server.mjs";

const root = fileURLToPath(new URL("../..", import.meta.url));
let control;
let browser;
let urls;

/** Starts the control script (and with it the server) and the browser. */
export async function start() {
  control = spawn(process.execPath, [`${root}tests/support/server-control.mjs`, `${root}target/debug/pubzub-server`], {
    cwd: root,
    stdio: ["ignore", "pipe", "inherit"],
  });
  urls = await new Promise((resolve, reject) => {
    control.once("exit", (code) => reject(new Error(`the control script exited with ${code}`)));
    createInterface({ input: control.stdout }).on("line", (line) => {
      const m = line.match(/^ws=(\S+) control=(\S+)$/);
      if (m) resolve({ ws: m[1], control: m[2] });
    });
  });
  // `gc()` in the page, for the tests of what a broker leaves behind.
  browser = await chromium.launch({ ...chromiumOptions, args: [...chromiumOptions.args, "--js-flags=--expose-gc"] });
  return urls;
}

export async function stop() {
  await browser?.close();
  if (control && control.exitCode === null) {
    control.kill("SIGTERM");
    await once(control, "exit");
  }
}

/**
 * Runs `test(arg)` in a fresh page and returns what it returns. `uncaught: true` lets the
 * test see uncaught errors itself (they do not fail it).
 */
export async function inPage(test, arg, { uncaught = false } = {}) {
  const page = await browser.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(e.message));
  try {
    await load(page);
    const result = await page.evaluate(test, arg);
    if (!uncaught && problems.length) throw new Error(`the page reported: ${problems.join("; ")}`);
    return result;
  } finally {
    await page.close();
  }
}

/** Loads the test page into `page` and waits until `pz` and `h` are there. */
async function load(page) {
  await page.goto(`${urls.control}/test/page.html?ws=${encodeURIComponent(urls.ws)}`);
  await page.waitForFunction(() => window.testPageReady === true);
}

export const wsUrl = () => urls.ws;
export const controlUrl = () => urls.control;

/**
 * Opens `n` tabs of one origin (pages of one browser context, which share localStorage and
 * see each other's `storage` events), each with the test page loaded. `problems` collects
 * what any of them reports; `close()` closes them all.
 */
export async function tabs(n) {
  const context = await browser.newContext();
  const problems = [];
  const pages = [];
  for (let i = 0; i < n; i++) {
    const page = await context.newPage();
    page.on("pageerror", (e) => problems.push(e.message));
    await load(page);
    pages.push(page);
  }
  return { context, pages, problems, close: () => context.close() };
}
