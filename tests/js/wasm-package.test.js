// The built npm package (real wasm, real glue) loaded in Node.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";

import { load, topicMatches, version } from "pubzub";

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
