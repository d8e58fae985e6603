// End to end: the www demo in headless Chromium against the real server (with --demo), and
// messages from MQTT.js and mosquitto_pub reaching a page. Screenshots of every demo page go to
// test-artifacts/.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { promisify } from "node:util";
import { chromium } from "playwright-core";
import mqtt from "mqtt";

import { chromiumOptions, startServer } from "./server.mjs";

const artifacts = new URL("../../test-artifacts/", import.meta.url);
let server;
let browser;

before(async () => {
  await mkdir(artifacts, { recursive: true });
  server = await startServer("--demo");
  browser = await chromium.launch(chromiumOptions);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** A page in a fresh browser context (its own storage: another visitor). */
async function open(path) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 760 } });
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(e.message));
  page.on("console", (m) => m.type() === "error" && problems.push(m.text()));
  await page.goto(`${server.http}${path}`);
  await page.locator("#bridge.online").waitFor();
  return { page, context, problems };
}

async function screenshot(page, name) {
  await page.screenshot({ path: new URL(`${name}.png`, artifacts).pathname, fullPage: true });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * An MQTT.js client that records `[topic, payload text, arrival ms]` for every message on
 * `filter`; `arrival(ms)` waits up to `ms` for the first one.
 */
async function mqttWatcher(filter) {
  const client = await mqtt.connectAsync(server.ws, { protocolVersion: 5, reconnectPeriod: 0 });
  const seen = [];
  client.on("message", (topic, payload) => seen.push([topic, payload.toString(), Date.now()]));
  await client.subscribeAsync(filter, { qos: 1 });
  return {
    seen,
    async arrival(ms) {
      for (let waited = 0; waited < ms && seen.length === 0; waited += 50) await sleep(50);
    },
    close: () => client.endAsync(true),
  };
}

test("the landing page links every demo and the bridge connects", async () => {
  const { page, context, problems } = await open("/");
  for (const name of ["Chat", "Live dashboard", "Topic inspector"]) {
    await page.locator(".card a.title", { hasText: name }).waitFor();
  }
  await page.getByText("up", { exact: true }).waitFor();
  await screenshot(page, "landing");
  assert.deepEqual(problems, []);
  await context.close();
});

test("two visitors chat both ways; a closed tab leaves the presence list by its lastwill", async () => {
  const ann = await open("/chat.html");
  const bob = await open("/chat.html");
  for (const [who, { page }] of [["ann", ann], ["bob", bob]]) {
    await page.fill("#name", who);
    await page.click("#rename button");
  }
  const people = (p) => p.page.locator("#people li");
  await bob.page.locator("#people li", { hasText: "ann" }).waitFor();
  await ann.page.locator("#people li", { hasText: "bob" }).waitFor();

  await ann.page.fill("#text", "hello from ann");
  await ann.page.click("#send button");
  await bob.page.locator("#log .line", { hasText: "hello from ann" }).waitFor();
  await bob.page.fill("#text", "hi ann, bob here");
  await bob.page.click("#send button");
  await ann.page.locator("#log .line", { hasText: "hi ann, bob here" }).waitFor();
  await screenshot(bob.page, "chat");

  // Ann closes her tab: her will clears her presence at bob's.
  await ann.context.close();
  await bob.page.locator("#people li", { hasText: "ann" }).waitFor({ state: "detached" });
  assert.deepEqual(await people(bob).allTextContents(), ["bob (you)"]);
  assert.deepEqual(bob.problems, []);
  await bob.context.close();
});

test("a retained value appears in a page opened later", async () => {
  const first = await open("/inspector.html");
  await first.page.fill("#topic", "bridge/origin/public/notes/today");
  await first.page.fill("#payload", '"buy milk"');
  await first.page.check("#retain");
  await first.page.click("#publish button");
  await first.page.waitForTimeout(200); // acknowledged by the server (QoS 1)
  await first.context.close();

  const later = await open("/inspector.html");
  await later.page.fill("#pattern", "bridge/origin/public/notes/#");
  await later.page.click("#watch button");
  await later.page
    .locator('#log .line[title="via bridge/origin/public/notes/#"]', { hasText: "buy milk" })
    .filter({ hasText: "retained" })
    .waitFor();
  await later.page.locator("#retained td", { hasText: "bridge/origin/public/notes/today" }).waitFor();
  await screenshot(later.page, "inspector");
  assert.deepEqual(later.problems, []);
  await later.context.close();
});

test("the dashboard shows the fleet simulated by the server's Rust handler", async () => {
  const { page, context, problems } = await open("/dashboard.html");
  await page.locator("[data-truck]").nth(4).waitFor();
  const trucks = await page.locator("[data-truck]").evaluateAll((cards) => cards.map((c) => c.dataset.truck));
  assert.deepEqual(trucks, ["truck-1", "truck-2", "truck-3", "truck-4", "truck-5"]);
  await page.waitForFunction(() => [...document.querySelectorAll(".truck .metric")].every((m) => /\d/.test(m.textContent)));
  const celsius = Number(await page.locator("[data-truck=truck-1] .metric").first().textContent());
  assert.ok(celsius >= 60 && celsius <= 110, `${celsius}`);
  assert.match(await page.locator("#bindings").textContent(), /"id":"truck-\d","what":\["\w+"\]/);
  await screenshot(page, "dashboard");
  assert.deepEqual(problems, []);
  await context.close();
});

test("a page receives messages from MQTT.js and from mosquitto_pub", async () => {
  const { page, context, problems } = await open("/inspector.html");
  await page.fill("#pattern", "bridge/origin/public/outside/#");
  await page.click("#watch button");
  await page.waitForTimeout(200); // the subscription reaches the server

  const client = mqtt.connect(server.ws, { protocolVersion: 5 });
  await new Promise((resolve, reject) => client.once("connect", resolve).once("error", reject));
  await client.publishAsync("public/outside/mqttjs", "hi from MQTT.js", { qos: 1, properties: { contentType: "text/plain" } });
  await client.endAsync();
  await promisify(execFile)("mosquitto_pub", ["-h", "127.0.0.1", "-p", String(server.mqttPort), "-t", "public/outside/mosquitto", "-m", "hi from mosquitto_pub", "-q", "1"]);

  // Each message shows once per subscription it reached (the pattern, and the page's `#`).
  await page.locator("#log .line", { hasText: "hi from MQTT.js" }).first().waitFor();
  await page.locator("#log .line", { hasText: "hi from mosquitto_pub" }).first().waitFor();
  assert.deepEqual(problems, []);
  await context.close();
});

test("the package's errors in a page: ServerError with the reason code, TimeoutError", async () => {
  const { page, context } = await open("/");
  const outcome = await page.evaluate(async () => {
    const { default: pubzub, ServerError, TimeoutError, PubzubError } = await import("/pkg/dist/index.js");
    const caught = async (promise) => {
      try {
        await promise;
        return "resolved";
      } catch (e) {
        return { name: e.name, reasonCode: e.reasonCode, isPubzubError: e instanceof PubzubError, message: e.message,
          isServerError: e instanceof ServerError, isTimeoutError: e instanceof TimeoutError };
      }
    };
    return {
      // Another user's topics are closed, also on the development broker `npm start` runs.
      denied: await caught(pubzub.publish("bridge/origin/user/somebody-else/x", 1, { qos: 1 })),
      timeout: await caught(pubzub.call("bridge/origin/public/nobody/answers", 1, { timeout: 300 })),
    };
  });
  assert.equal(outcome.denied.isServerError, true, JSON.stringify(outcome.denied));
  assert.equal(outcome.denied.reasonCode, 0x87);
  assert.equal(outcome.denied.isPubzubError, true);
  assert.match(outcome.denied.message, /reason code 0x87/);
  assert.equal(outcome.timeout.isTimeoutError, true, JSON.stringify(outcome.timeout));
  assert.match(outcome.timeout.message, /no reply on bridge\/origin\/public\/nobody\/answers/);
  await context.close();
});

test("the package's lastwill, removeLastwill and disconnect, watched by MQTT.js", async () => {
  const watcher = await mqttWatcher("public/tswill/#");
  const { page, context } = await open("/");
  try {
    const status = await page.evaluate(async () => {
      const { createPubzub } = await import("/pkg/dist/index.js");
      const broker = createPubzub();
      const status = await broker.connect();
      await broker.lastwill("bridge/origin/public/tswill/kept", "kept will", { qos: 1 });
      const removed = await broker.lastwill("bridge/origin/public/tswill/removed", "removed will", { qos: 1 });
      if (!(await broker.removeLastwill(removed))) throw new Error("removeLastwill said no");
      await new Promise((r) => setTimeout(r, 200)); // the removal reaches the server
      // DISCONNECT 0x00: a clean goodbye fires no will; the server keeps the session.
      await broker.disconnect();
      await new Promise((r) => setTimeout(r, 300));
      if (!(await broker.connect()).session_present) throw new Error("the session was not kept");
      return status;
    });
    assert.equal(status.is_connected, true);
    await sleep(500);
    assert.deepEqual(watcher.seen, [], "no will after disconnect()");
    // The page goes away: DISCONNECT 0x04, and the server publishes the will it kept.
    await context.close();
    await watcher.arrival(5000);
    await sleep(300); // a removed will would have come by now
    assert.deepEqual(
      watcher.seen.map(([topic, text]) => [topic, text]),
      [["public/tswill/kept", "kept will"]],
    );
  } finally {
    await context.close();
    await watcher.close();
  }
});

test("createPubzub({persist}) keeps retained messages across a reload of the page", async () => {
  const { page, context } = await open("/");
  await page.evaluate(async () => {
    const { createPubzub } = await import("/pkg/dist/index.js");
    const broker = createPubzub({ persist: "e2e-retained" });
    await broker.publish("draft/title", "Hello", { retain: true });
    await broker.publish("draft/bytes", new Uint8Array([0, 255, 7]), { retain: true });
  });
  await page.reload(); // pagehide saves them
  const seen = await page.evaluate(async () => {
    const { createPubzub } = await import("/pkg/dist/index.js");
    const broker = createPubzub({ persist: "e2e-retained" });
    const seen = [];
    broker.subscribe("draft/+field", (msg, { field }) =>
      seen.push([field, msg.payload instanceof Uint8Array ? [...msg.payload] : msg.payload, msg.retain]));
    await broker.ready;
    return seen.sort();
  });
  assert.deepEqual(seen, [["bytes", [0, 255, 7], true], ["title", "Hello", true]]);
  await context.close();
});

test("a lastwill with a delay waits out a network blip and fires when the page stays away", async () => {
  const watcher = await mqttWatcher("public/tsdelay/#");
  const { page, context } = await open("/");
  const { seen } = watcher;
  const connected = (want) =>
    page.waitForFunction(async (want) => (await window.delayed.status()).is_connected === want, want, { timeout: 10000 });
  try {
    await page.evaluate(async () => {
      const { createPubzub } = await import("/pkg/dist/index.js");
      const broker = createPubzub();
      window.delayed = broker;
      await broker.connect({ keepAlive: 1 });
      await broker.lastwill("bridge/origin/public/tsdelay/gone", "gone", { qos: 1, delay: 2 });
    });
    // The blip: the server stops answering, the page notices (keep alive) and gives up the
    // connection, and resumes its session as soon as the server is back.
    const blip = server.freeze(2500);
    await connected(false);
    await blip;
    await connected(true);
    await sleep(2500);
    assert.deepEqual(seen, [], "a blip shorter than the delay publishes nothing");

    // Lost again, and this time the page does not come back: it can open no WebSocket any
    // more (on a loaded machine it could otherwise reconnect before it is closed, and leave
    // with DISCONNECT 0x04, which publishes the will at once), and it is closed while the
    // server is still frozen.
    await page.evaluate(() => {
      window.WebSocket = function () {
        throw new Error("this page stays offline");
      };
    });
    const lost = server.freeze(4500);
    await connected(false);
    await context.close();
    // When the server woke, not when this line runs: noticing the loss and closing the page
    // can take longer than the freeze, and the will's delay counts from the wake.
    const backAt = await lost;
    await watcher.arrival(5000);
    assert.equal(seen.length, 1, "published once the page stayed away");
    const [topic, , arrivedAt] = seen[0];
    assert.equal(topic, "public/tsdelay/gone");
    assert.ok(
      arrivedAt - backAt >= 1500,
      `after ${arrivedAt - backAt} ms; the server's last log lines:\n${server.recentLogs()}`,
    );
  } finally {
    await context.close();
    await watcher.close();
  }
});

test("mosquitto_rr's request is answered by a page that publishes on the response topic it sees", async () => {
  const { page, context, problems } = await open("/");
  await page.evaluate(async () => {
    const { default: pubzub } = await import("/pkg/dist/index.js");
    const sub = pubzub.subscribe("bridge/origin/public/rpc/upper", (msg) =>
      // mosquitto_rr sends no content type: the payload arrives as bytes.
      pubzub.publish(msg.properties.response_topic, new TextDecoder().decode(msg.payload).toUpperCase(), {
        properties: { correlation_data: msg.properties.correlation_data },
      }),
    );
    await sub.ready;
  });
  const { stdout } = await promisify(execFile)(
    "mosquitto_rr",
    ["-h", "127.0.0.1", "-p", String(server.mqttPort), "-V", "mqttv5", "-t", "public/rpc/upper", "-e", "public/rr/answer", "-m", "hello", "-W", "10"],
  );
  assert.equal(stdout.trim(), "HELLO");
  assert.deepEqual(problems, []);
  await context.close();
});

test("the package in a page: connect() refused and timed out, subscribe ready, NotConnectedError", async () => {
  const { page, context, problems } = await open("/");
  const outcome = await page.evaluate(async () => {
    const { createPubzub, ConnectError, NotConnectedError, ServerError } = await import("/pkg/dist/index.js");
    const caught = async (promise) => {
      try {
        return { resolved: await promise };
      } catch (e) {
        return { name: e.name, reasonCode: e.reasonCode, message: e.message, typed: e instanceof ConnectError || e instanceof NotConnectedError || e instanceof ServerError };
      }
    };
    const refused = createPubzub();
    const unreachable = createPubzub();
    const b = createPubzub();
    // A client id that is another page's routing id is refused (0x85): the development
    // broker `npm start` runs knows no users to refuse a password of.
    const { routing_id } = await b.connect();
    const out = {
      refused: await caught(refused.connect({ clientId: routing_id })),
      timeout: await caught(unreachable.connect({ url: "ws://127.0.0.1:9/x", connectTimeout: 500 })),
      connected: (await b.connect()).is_connected,
      granted: await caught(b.subscribe(["bridge/origin/public/ready/#", "local/x"], () => {}, { qos: 1 }).ready),
      denied: await caught(b.subscribe("bridge/origin/bridge/someone-else/#", () => {}).ready),
      deniedWill: await caught(b.lastwill("bridge/origin/bridge/someone-else/x", "bye")),
    };
    await b.disconnect();
    out.afterDisconnect = await caught(b.publish("bridge/origin/public/x", 1, { qos: 1 }));
    unreachable.disconnect();
    return out;
  });
  assert.equal(outcome.refused.name, "ConnectError", JSON.stringify(outcome.refused));
  assert.equal(outcome.refused.reasonCode, 0x85);
  assert.equal(outcome.timeout.name, "ConnectError", JSON.stringify(outcome.timeout));
  assert.equal(outcome.timeout.reasonCode, undefined);
  assert.equal(outcome.connected, true);
  assert.deepEqual(outcome.granted, { resolved: [1, null] });
  assert.equal(outcome.denied.name, "ServerError");
  assert.equal(outcome.denied.reasonCode, 0x87);
  assert.equal(outcome.deniedWill.reasonCode, 0x87);
  assert.equal(outcome.afterDisconnect.name, "NotConnectedError");
  assert.ok([outcome.refused, outcome.timeout, outcome.denied, outcome.afterDisconnect].every((o) => o.typed));
  // Chromium itself logs the failed WebSocket to the unreachable url; nothing else may show.
  assert.deepEqual(problems.filter((p) => !p.startsWith("WebSocket connection to 'ws://127.0.0.1:9/x' failed")), []);
  await context.close();
});
