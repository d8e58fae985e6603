// The built npm package (real wasm, real glue, the TypeScript API) loaded in Node.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";

import pubzub, {
  ConnectError,
  createPubzub,
  load,
  PubzubError,
  topicMatches,
  version,
} from "pubzub";

// Calls made before the module has loaded wait and run in order.
const early = [];
const earlySub = pubzub.subscribe("early/+n", (msg, b) => early.push([b.n, msg.payload]));
const earlyPublishes = [pubzub.publish("early/1", "a"), pubzub.publish("early/2", "b")];
const cancelled = pubzub.subscribe("early/#", () => early.push("cancelled subscription ran"));
pubzub.unsubscribe(cancelled);
assert.equal(early.length, 0, "nothing runs before the module is there");
assert.throws(() => topicMatches("a/#", "a"), (e) => e instanceof PubzubError && /await pubzub.ready/.test(e.message));

const wasm = await readFile(new URL("../../pkg-js/wasm/pubzub_bg.wasm", import.meta.url));
await load(wasm);

test("calls made before the module loaded ran in order once it did", async () => {
  await pubzub.ready;
  await Promise.all(earlyPublishes);
  await earlySub.ready;
  assert.deepEqual(early, [["1", "a"], ["2", "b"]]);
  assert.equal(earlySub.unsubscribe(), true);
  assert.equal(earlySub.unsubscribe(), false);
});

test("version comes from the wasm module", () => {
  assert.match(version(), /^\d+\.\d+\.\d+$/);
});

test("topic matching follows MQTT rules", () => {
  assert.equal(topicMatches("a/b/#", "a/b"), true);
  assert.equal(topicMatches("a/b/+", "a/b"), false);
  assert.equal(topicMatches("truck/+id/#rest", "truck/7/temp"), true);
  assert.equal(topicMatches("#", "$SYS/x"), false);
  assert.equal(topicMatches("a//b", "a//b"), true);
});

test("an invalid pattern throws a PubzubError with a clear message", async () => {
  assert.throws(() => topicMatches("a/#/b", "a"), (e) => e instanceof PubzubError && /invalid pattern "a\/#\/b"/.test(e.message));
  const broker = createPubzub();
  await broker.ready;
  assert.throws(() => broker.subscribe("a/#/b", () => {}), (e) => e instanceof PubzubError && /a\/#\/b/.test(e.message));
  await assert.rejects(broker.publish("a/+", 1), (e) => e instanceof PubzubError && /wildcard/.test(e.message));
});

test("the page broker delivers JS values locally, with bindings", async () => {
  const broker = createPubzub();
  await broker.ready;
  const got = [];
  const sub = broker.subscribe("truck/+id/#rest", (msg, bindings, info) => got.push({ msg, bindings, info }));
  const payload = { speed: 88 };
  await broker.publish("truck/7/engine/temp", payload, { qos: 1 });
  assert.equal(got.length, 1);
  assert.equal(got[0].msg.payload, payload, "the same object, not a copy");
  assert.deepEqual(got[0].bindings, { id: "7", rest: ["engine", "temp"] });
  assert.deepEqual(got[0].info, { topic: "truck/+id/#rest" });
  assert.ok(Object.isFrozen(got[0].msg));
  assert.deepEqual(await broker.match("truck/7/x"), [{ id: sub.id, topic: "truck/+id/#rest", bindings: { id: "7", rest: ["x"] } }]);
  assert.deepEqual(broker.subscriptions(), [sub]);
  assert.equal(broker.unsubscribe(sub), true);
  assert.deepEqual(broker.subscriptions(), []);
  await broker.publish("truck/7/engine/temp", payload);
  assert.equal(got.length, 1);
});

test("isolated brokers do not see each other's messages", async () => {
  const [a, b] = [createPubzub(), createPubzub()];
  const got = [];
  a.subscribe("x", (m) => got.push(["a", m.payload]));
  b.subscribe("x", (m) => got.push(["b", m.payload]));
  await a.publish("x", 1);
  await b.publish("x", 2);
  assert.deepEqual(got, [["a", 1], ["b", 2]]);
});

test("call gets a local responder's reply", async () => {
  const broker = createPubzub();
  broker.subscribe("rpc/double", (msg) => broker.publish(msg.properties.response_topic, msg.payload * 2));
  const reply = await broker.call("rpc/double", 21);
  assert.equal(reply.payload, 42);
});

test("a throwing subscriber is reported and the others still get the message", async () => {
  const broker = createPubzub();
  const errors = [];
  const off = broker.on("error", (error, message) => errors.push([error.message, message.topic]));
  const got = [];
  broker.subscribe("t", () => {
    throw new Error("boom");
  });
  broker.subscribe("t", (m) => got.push(m.payload));
  const logged = [];
  const consoleError = console.error;
  console.error = (...args) => logged.push(args);
  try {
    await broker.publish("t", "still here");
  } finally {
    console.error = consoleError;
  }
  assert.deepEqual(got, ["still here"]);
  assert.deepEqual(errors, [["boom", "t"]]);
  assert.equal(logged.length, 1);
  off();
});

test("status is known before connecting", async () => {
  const status = await createPubzub().status();
  assert.deepEqual(status, {
    is_connected: false,
    session_present: false,
    client_id: null,
    routing_id: null,
    queued: 0,
    dropped: 0,
    last_error: null,
  });
});

test("outside a browser connect() rejects and says why; a bad url throws at once", async () => {
  assert.equal(typeof globalThis.WebSocket, "undefined", "Node 20 has no WebSocket");
  const broker = createPubzub();
  await broker.ready;
  await assert.rejects(
    broker.connect({ url: "ws://127.0.0.1:9/mqtt-transport" }),
    (e) => e instanceof ConnectError && /no WebSocket/.test(e.message) && e.reasonCode === undefined,
  );
  assert.throws(() => broker.connect({ url: "http://127.0.0.1:9/" }), (e) => e instanceof PubzubError && /ws: or wss:/.test(e.message));
  // Without a page there is no default url.
  assert.throws(() => broker.connect(), (e) => e instanceof PubzubError && /connect\(\{url\}\)/.test(e.message));
});

test("a share group in the page takes turns; ready resolves for local patterns", async () => {
  const broker = createPubzub();
  const got = [];
  const a = broker.subscribe("$share/g/job", (m) => got.push(["a", m.payload]));
  broker.subscribe("$share/g/job", (m) => got.push(["b", m.payload]));
  assert.deepEqual(await a.ready, [null]);
  for (const n of [1, 2, 3]) await broker.publish("job", n);
  assert.deepEqual(got, [["a", 1], ["b", 2], ["a", 3]]);
});

test("a payload the server cannot take is a PubzubError naming the type and topic", async () => {
  const broker = createPubzub();
  await assert.rejects(
    broker.publish("bridge/origin/public/x", () => 1),
    (e) => e instanceof PubzubError && /a function cannot be sent/.test(e.message) && /bridge\/origin\/public\/x/.test(e.message),
  );
  const cyclic = {};
  cyclic.self = cyclic;
  await assert.rejects(broker.publish("bridge/origin/public/x", cyclic), /circular/);
  await assert.rejects(broker.publish("bridge/origin/public/x", 1n), /BigInt/);
});

test("a broker that cannot be made fails its queued and later calls with the reason", async () => {
  const broker = createPubzub({ persist: "key" }); // Node has no sessionStorage
  const queued = broker.publish("a", 1);
  await assert.rejects(broker.ready, (e) => e instanceof PubzubError && /sessionStorage/.test(e.message));
  await assert.rejects(queued, /sessionStorage/);
  await assert.rejects(broker.publish("a", 2), /sessionStorage/);
});
