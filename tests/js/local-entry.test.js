// `pubzub/local`: the page broker without the bridge, with its own, smaller module.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile, stat } from "node:fs/promises";

import pubzub, { createPubzub, load, PubzubError, topicMatches, version } from "pubzub/local";

const localWasm = new URL("../../pkg-js/wasm-local/pubzub_bg.wasm", import.meta.url);
await load(await readFile(localWasm));

test("local publish/subscribe, retained messages, share groups and call work as in pubzub", async () => {
  const got = [];
  pubzub.subscribe("cart/+item", (msg, { item }) => got.push([item, msg.payload]));
  await pubzub.publish("cart/apple", 3);
  assert.deepEqual(got, [["apple", 3]]);
  const b = createPubzub();
  await b.publish("state/x", "kept", { retain: true });
  const late = [];
  b.subscribe("state/#", (m) => late.push([m.topic, m.payload, m.retain]));
  assert.deepEqual(late, [["state/x", "kept", true]]);
  b.subscribe("rpc/echo", (m) => b.publish(m.properties.response_topic, m.payload));
  assert.equal((await b.call("rpc/echo", "hi")).payload, "hi");
  assert.equal(topicMatches("a/+", "a/b"), true);
  assert.match(version(), /^\d+\.\d+\.\d+$/);
});

test("bridge/origin/ topics are refused with a clear error: there is no bridge", async () => {
  const b = createPubzub();
  await assert.rejects(b.publish("bridge/origin/public/x", 1), (e) => e instanceof PubzubError && /pubzub\/local has no bridge/.test(e.message));
  assert.equal("connect" in b, false);
  assert.equal("lastwill" in b, false);
});

test("its module is the smaller one, without the MQTT client", async () => {
  const full = await stat(new URL("../../pkg-js/wasm/pubzub_bg.wasm", import.meta.url));
  const local = await stat(localWasm);
  assert.ok(local.size < full.size / 2, `local ${local.size} bytes, full ${full.size}`);
});
