// Helpers for the browser tests, in the test page (`window.h`): waiting, inboxes, connected
// brokers, the control script (restart, stop, freeze the server) and assertions that throw
// with a message the test runner shows.
import { createPubzub } from "/pkg/dist/index.js";

let ws;

/** The server's WebSocket url, from the page's query. */
export function configure(url) {
  ws = url;
}

export const url = () => ws;
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function eq(actual, expected, what = "") {
  const [a, e] = [JSON.stringify(actual), JSON.stringify(expected)];
  if (a !== e) throw new Error(`${what}: expected ${e}, got ${a}`);
}

export function ok(condition, what) {
  if (!condition) throw new Error(`not so: ${what}`);
}

/** Waits until `f()` is truthy (up to `ms`); returns whether it became so. */
export async function until(f, ms = 5000) {
  for (let waited = 0; waited < ms; waited += 20) {
    if (f()) return true;
    await sleep(20);
  }
  return Boolean(f());
}

/** The messages a callback received. */
export function inbox() {
  const got = [];
  return {
    got,
    cb: (msg) => got.push(msg),
    topics: () => got.map((m) => m.topic),
    /** Waits (up to 5 s) for `n` messages. */
    async waitFor(n) {
      await until(() => got.length >= n);
      if (got.length < n) throw new Error(`expected ${n} messages, got ${JSON.stringify(got.map((m) => m.topic))}`);
      return got;
    },
    async firstText() {
      return (await this.waitFor(1))[0].payload;
    },
  };
}

/** A broker connected to the test server, and its status. */
export async function connected(options = {}) {
  const b = createPubzub();
  const status = await b.connect({ url: ws, ...options });
  return [b, status];
}

/** Another broker, connected and subscribed to `filter`. */
export async function watching(filter) {
  const [b] = await connected();
  const box = inbox();
  await b.subscribe(filter, box.cb).ready;
  return [b, box];
}

/** The statuses `b` publishes from now on. */
export function statuses(b) {
  const box = inbox();
  b.subscribe("$bridge/origin/status", box.cb, { retain_handling: 2 });
  return box;
}

/** Waits until `b` reports `is_connected == want`; returns whether it did. */
export async function untilConnected(b, want, ms = 5000) {
  for (let waited = 0; waited < ms; waited += 20) {
    if ((await b.status()).is_connected === want) return true;
    await sleep(20);
  }
  return false;
}

/** GET on the control script (this page's origin). */
export async function control(path) {
  return (await fetch(path)).json();
}

/** A window event (`pagehide`, `pageshow`, `online`) as the browser would dispatch it. */
export function dispatch(name) {
  window.dispatchEvent(new Event(name));
}

/** How a promise settled: `["ok", value]` or `["error", name, reasonCode, message]`. */
export async function outcome(promise) {
  try {
    return ["ok", await promise];
  } catch (e) {
    return ["error", e?.name, e?.reasonCode, e?.message];
  }
}

/** The error a promise rejects with (fails if it resolves). */
export async function rejection(promise) {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  throw new Error("expected a rejection");
}

/**
 * The topics the control script's MQTT.js observer saw under `prefix`, in order. With
 * `atLeast`, waits (up to 5 s) until it saw that many different ones: a delivery to the
 * observer may arrive after the publisher's acknowledgement.
 */
export async function observedUnder(prefix, atLeast = 0) {
  for (let waited = 0; ; waited += 50) {
    const seen = (await control("/observed")).filter((t) => t.startsWith(prefix));
    if (new Set(seen).size >= atLeast || waited >= 5000) return seen;
    await sleep(50);
  }
}
