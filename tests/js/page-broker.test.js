// The page broker's local publish/subscribe through the built package in Node (the same
// wasm and TypeScript a page gets): frozen messages with the value itself, bindings, several
// patterns, errors in callbacks, retained messages and retain handling, share groups, match,
// the tree's edge cases, re-entrant callbacks, and invalid input.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";

import { createPubzub, load, PubzubError } from "pubzub";

await load(await readFile(new URL("../../pkg-js/wasm/pubzub_bg.wasm", import.meta.url)));

/** A callback that records `[message, bindings, info]`. */
function recorder() {
  const calls = [];
  const f = (m, b, i) => calls.push([m, b, i]);
  f.calls = calls;
  f.topics = () => calls.map(([m]) => m.topic);
  return f;
}

/** A loaded broker. */
async function broker() {
  const b = createPubzub();
  await b.ready;
  return b;
}

test("the subscriber gets the published value itself, in a frozen message", async () => {
  const b = await broker();
  const r = recorder();
  b.subscribe("truck/7/temp", r);
  const payload = {};
  const properties = { content_type: "application/json" };
  await b.publish("truck/7/temp", payload, { qos: 1, properties });
  const [[msg, bindings, info]] = r.calls;
  assert.equal(msg.payload, payload, "the very same object, not a copy");
  assert.deepEqual({ ...msg, payload: null }, { type: "publish", topic: "truck/7/temp", payload: null, qos: 1, retain: false, properties });
  assert.ok(Object.isFrozen(msg), "one subscriber cannot change what another sees");
  assert.ok(Object.isFrozen(msg.properties) && msg.properties !== properties, "a frozen copy of the properties");
  assert.deepEqual(info, { topic: "truck/7/temp" });
  assert.ok(Object.isFrozen(info) && Object.isFrozen(bindings));
});

test("named wildcards bind levels; # binds the parent as an empty list", async () => {
  const b = await broker();
  const r = recorder();
  b.subscribe("truck/+id/#rest", r);
  await b.publish("truck/7/engine/temp", 1);
  await b.publish("truck/8", 2);
  await b.publish("truck/7/engine/temp", 3); // the cached answer binds the same
  assert.deepEqual(r.calls.map(([, bindings]) => bindings), [
    { id: "7", rest: ["engine", "temp"] },
    { id: "8", rest: [] },
    { id: "7", rest: ["engine", "temp"] },
  ]);
  assert.deepEqual(r.calls[0][2], { topic: "truck/+id/#rest" });
  assert.ok(Object.isFrozen(r.calls[0][1].rest));
  const shared = recorder();
  b.subscribe("$share/g/jobs/+kind/#rest", shared);
  await b.publish("jobs/print/a/b", 1);
  assert.deepEqual(shared.calls[0][1], { kind: "print", rest: ["a", "b"] }, "after $share/<group>/");
});

test("several patterns in one call, each with its bindings; unsubscribing ends all of them", async () => {
  const b = await broker();
  const r = recorder();
  const sub = b.subscribe(["a/+x", "+y/b"], r);
  assert.deepEqual(sub.patterns, ["a/+x", "+y/b"]);
  await b.publish("a/b", null);
  const seen = r.calls.map(([, bindings, info]) => `${info.topic} ${JSON.stringify(bindings)}`).sort();
  assert.deepEqual(seen, ['+y/b {"y":"a"}', 'a/+x {"x":"b"}']);
  assert.equal(b.unsubscribe(sub), true);
  assert.equal(b.unsubscribe(sub), false, "already gone");
  await b.publish("a/b", null);
  assert.equal(r.calls.length, 2, "both patterns went");
});

test("a throwing callback does not stop the others; the error hook hears of it", async () => {
  const b = await broker();
  const r = recorder();
  const errors = [];
  b.on("error", (error, msg) => errors.push([error.message, msg.topic]));
  b.subscribe("x", () => {
    throw new Error("boom");
  });
  b.subscribe("x", r);
  const consoleError = console.error;
  console.error = () => {};
  try {
    await b.publish("x", "hi");
  } finally {
    console.error = consoleError;
  }
  assert.equal(r.calls.length, 1);
  assert.deepEqual(errors, [["boom", "x"]]);
});

test("retained messages reach later subscribers; an empty payload clears one; bytes stay the same object", async () => {
  const b = await broker();
  const bytes = new Uint8Array([0, 255, 1]);
  await b.publish("state/door", "open", { retain: true });
  await b.publish("state/blob", bytes, { retain: true });
  await b.publish("state/gone", "x", { retain: true });
  await b.publish("state/gone", "", { retain: true });
  await b.publish("state/door", "closed", { retain: true }); // replaces the first
  const r = recorder();
  b.subscribe("state/+what", r);
  const byTopic = Object.fromEntries(r.calls.map(([m, bindings]) => [m.topic, [m, bindings]]));
  assert.deepEqual(Object.keys(byTopic).sort(), ["state/blob", "state/door"]);
  assert.equal(byTopic["state/blob"][0].payload, bytes, "the same Uint8Array");
  assert.equal(byTopic["state/blob"][0].retain, true);
  assert.deepEqual(byTopic["state/blob"][1], { what: "blob" });
  assert.equal(byTopic["state/door"][0].payload, "closed");
  const live = recorder();
  b.subscribe("state/door", live, { retain_handling: 2 });
  await b.publish("state/door", "ajar", { retain: true });
  assert.equal(live.calls[0][0].retain, false, "live subscribers see retain: false");
});

test("retain handling 1 and 2: a subscription is a callback on a pattern", async () => {
  const b = await broker();
  await b.publish("r", 1, { retain: true });
  const r = recorder();
  b.subscribe("r", r, { retain_handling: 1 });
  assert.equal(r.calls.length, 1, "new for this callback");
  b.subscribe("r", r, { retain_handling: 1 });
  assert.equal(r.calls.length, 1, "not new any more");
  b.subscribe("r", r, { retain_handling: 2 });
  assert.equal(r.calls.length, 1, "never");
  b.subscribe("r", r, { retain_handling: 0 });
  assert.equal(r.calls.length, 2, "always");
  const other = recorder();
  b.subscribe("r", other, { retain_handling: 1 });
  assert.equal(other.calls.length, 1, "new for another callback");
});

test("a share group delivers each message to one member in turn, beside plain subscribers", async () => {
  const b = await broker();
  const [m1, m2, plain] = [recorder(), recorder(), recorder()];
  b.subscribe("$share/workers/jobs/+", m1);
  b.subscribe("$share/workers/jobs/+", m2);
  b.subscribe("jobs/#", plain);
  for (let i = 0; i < 6; i++) await b.publish(`jobs/${i}`, i);
  assert.deepEqual(m1.topics(), ["jobs/0", "jobs/2", "jobs/4"]);
  assert.deepEqual(m2.topics(), ["jobs/1", "jobs/3", "jobs/5"]);
  assert.equal(plain.calls.length, 6);
  assert.equal(m1.calls.concat(m2.calls).filter(([m]) => m.retain).length, 0);
});

test("match lists the subscriptions a topic reaches, with ids and bindings", async () => {
  const b = await broker();
  const r = recorder();
  const exact = b.subscribe("a/b", r);
  const wild = b.subscribe("a/+x", r);
  b.subscribe("c/#", r);
  assert.deepEqual(await b.match("a/b"), [
    { id: exact.id, topic: "a/b", bindings: {} },
    { id: wild.id, topic: "a/+x", bindings: { x: "b" } },
  ]);
  await assert.rejects(b.match("a/+"), (e) => e instanceof PubzubError && /wildcard/.test(e.message), "a topic, not a filter");
});

test("the tree's edge cases: # and the parent, + and the parent, $ topics, empty levels", async () => {
  const b = await broker();
  const [hash, exact, plus, rootPlus, rootHash, empty] = [recorder(), recorder(), recorder(), recorder(), recorder(), recorder()];
  b.subscribe("a/b/#", hash);
  b.subscribe("a/b", exact);
  b.subscribe("a/b/+", plus);
  b.subscribe("+/x", rootPlus);
  b.subscribe("#", rootHash);
  b.subscribe("a//b", empty);
  for (const t of ["a/b", "$SYS/x", "a//b"]) await b.publish(t, null);
  assert.deepEqual(hash.topics(), ["a/b"], "a/b/# receives a/b beside an exact subscriber");
  assert.deepEqual(exact.topics(), ["a/b"]);
  assert.deepEqual(plus.topics(), [], "a/b/+ does not receive a/b");
  assert.deepEqual(rootPlus.topics(), [], "a leading wildcard skips $ topics");
  assert.deepEqual(rootHash.topics(), ["a/b", "a//b"], "# skips $ topics");
  assert.deepEqual(empty.topics(), ["a//b"], "empty levels are levels");
});

test("callbacks may publish, subscribe and unsubscribe while a message is delivered", async () => {
  const b = await broker();
  const inner = recorder();
  const late = recorder();
  const unsubscribed = recorder();
  let second;
  b.subscribe("ping", (m) => {
    b.subscribe("pong", inner);
    b.publish("pong", m.payload);
    if (second) b.unsubscribe(second); // no more messages for it, not even this one
    b.subscribe("ping", late, { retain_handling: 2 }); // gets the next message, not this one
  });
  second = b.subscribe("ping", unsubscribed);
  await b.publish("ping", 42);
  assert.deepEqual(inner.calls.map(([m]) => m.payload), [42]);
  assert.deepEqual(unsubscribed.calls, [], "unsubscribed by the callback before it");
  assert.deepEqual(late.calls, []);
  await b.publish("ping", 43);
  assert.deepEqual(late.calls.map(([m]) => m.payload), [43]);
});

test("invalid input is a clear error and changes nothing", async () => {
  const b = await broker();
  const r = recorder();
  assert.throws(() => b.subscribe(["ok/+", "bad/#/x"], r), (e) => e instanceof PubzubError && /bad\/#\/x/.test(e.message));
  assert.deepEqual(await b.match("ok/1"), [], "none of the patterns was subscribed");
  assert.deepEqual(b.subscriptions(), []);
  assert.throws(() => b.subscribe("a", "not a function"), /callback function/);
  assert.throws(() => b.subscribe(42, r), /topic filter or an array/);
  assert.throws(() => b.subscribe(["a", 7], r), /must be a string/);
  assert.throws(() => b.subscribe("a", r, { retain_handling: 3 }), /retain_handling must be an integer from 0 to 2/);
  await assert.rejects(b.publish("a/+", null), /wildcard/, "no wildcards in topic names");
  await assert.rejects(b.publish("", null), /empty/);
  await assert.rejects(b.publish("a", null, { qos: 3 }), /qos must be an integer from 0 to 2/);
  await assert.rejects(b.publish("a/#", 1, { retain: true }), /wildcard/, "nor in retained ones");
  await assert.rejects(b.publish(7, null), /topic string/);
});

test("publish resolves for a local topic, and subscribe works before the module is there", async () => {
  const b = createPubzub();
  const r = recorder();
  const sub = b.subscribe("early", r);
  assert.equal(sub.id, undefined);
  await b.publish("early", 1);
  assert.deepEqual(await sub.ready, [null]);
  assert.equal(typeof sub.id, "number");
  assert.equal(r.calls.length, 1);
  assert.equal(await b.publish("early", 2), undefined);
});
