// The built npm package (real wasm, real glue) loaded in Node.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";

import { load, PageBroker, topicMatches, version } from "pubzub";

const wasm = await readFile(new URL("../../pkg-js/wasm/pubzub_bg.wasm", import.meta.url));
await load(wasm);

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

test("an invalid pattern throws a JS Error with a clear message", () => {
  assert.throws(() => topicMatches("a/#/b", "a"), (e) => e instanceof Error && /invalid pattern "a\/#\/b"/.test(e.message));
});

test("the page broker delivers JS values locally, with bindings", () => {
  const broker = new PageBroker();
  const got = [];
  const id = broker.subscribe("truck/+id/#rest", (msg, bindings, info) => got.push({ msg, bindings, info }), undefined);
  const payload = { speed: 88 };
  assert.equal(broker.publish("truck/7/engine/temp", payload, { qos: 1 }), 1);
  assert.equal(got.length, 1);
  assert.equal(got[0].msg.payload, payload, "the same object, not a copy");
  assert.deepEqual(got[0].bindings, { id: "7", rest: ["engine", "temp"] });
  assert.deepEqual(got[0].info, { topic: "truck/+id/#rest" });
  assert.ok(Object.isFrozen(got[0].msg));
  assert.equal(broker.unsubscribe(id), true);
  assert.equal(broker.publish("truck/7/engine/temp", payload, undefined), 0);
});
