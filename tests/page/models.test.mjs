// pubzub/models in Chromium: the page's storage, location, visibility, focus and network
// state as topics, on a real page broker, with real storage events between tabs.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";

import { inPage, start, stop, tabs } from "./harness.mjs";

before(start);
after(stop);

test("localStorage: get, post and delete through call, an event for each change, keys with slashes", () =>
  inPage(async () => {
    const m = await import("/pkg/dist/models.js");
    const b = pz.createPubzub();
    const stopModel = m.localStorageModel(b);
    const events = h.inbox();
    b.subscribe("model/localStorage/event/#key", events.cb);
    h.eq((await b.call("model/localStorage/get/prefs/theme")).payload, null, "nothing stored yet");
    h.eq((await b.call("model/localStorage/post/prefs/theme", { mode: "dark", size: 3 })).payload, { mode: "dark", size: 3 });
    h.eq(JSON.parse(localStorage.getItem("prefs/theme")), { mode: "dark", size: 3 }, "stored as JSON under the key");
    h.eq((await b.call("model/localStorage/get/prefs/theme")).payload, { mode: "dark", size: 3 });
    localStorage.setItem("plain", "not json");
    h.eq((await b.call("model/localStorage/get/plain")).payload, "not json", "a string other code wrote");
    h.eq((await b.call("model/localStorage/delete/prefs/theme")).payload, null);
    h.eq(localStorage.getItem("prefs/theme"), null, "removed");
    await events.waitFor(3);
    h.eq(
      events.got.map((e) => [e.topic, e.payload]),
      [
        ["model/localStorage/event/ping", "pong"],
        ["model/localStorage/event/prefs/theme", { mode: "dark", size: 3 }],
        ["model/localStorage/event/prefs/theme", null],
      ],
    );
    // A write the browser refuses (over the origin's quota, about 5 MB): the answer is the error.
    const full = await b.call("model/localStorage/post/big", "x".repeat(6 * 1024 * 1024));
    h.ok(full.payload instanceof Error && full.payload.name === "QuotaExceededError", String(full.payload));
    h.eq(localStorage.getItem("big"), null, "nothing half-written");
    stopModel();
    const e = await h.rejection(b.call("model/localStorage/get/plain", null, { timeout: 200 }));
    h.ok(e instanceof pz.TimeoutError, "a stopped model answers nothing");
    localStorage.clear();
  }));

test("sessionStorage has the same requests under its own prefix", () =>
  inPage(async () => {
    const m = await import("/pkg/dist/models.js");
    const b = pz.createPubzub();
    m.sessionStorageModel(b);
    await b.call("model/sessionStorage/post/step", 2);
    h.eq(sessionStorage.getItem("step"), "2");
    h.eq((await b.call("model/sessionStorage/get/step")).payload, 2);
    h.eq(localStorage.getItem("step"), null, "not in localStorage");
  }));

test("a change of localStorage in another tab arrives as an event, a clear() as null", async () => {
  const t = await tabs(2);
  try {
    const [a, b] = t.pages;
    await a.evaluate(async () => {
      const m = await import("/pkg/dist/models.js");
      const broker = pz.createPubzub();
      m.localStorageModel(broker);
      window.seen = [];
      // `#` matches the parent level too: the clear() on model/localStorage/event.
      broker.subscribe("model/localStorage/event/#key", (msg) => {
        if (!msg.topic.endsWith("/ping")) window.seen.push([msg.topic, msg.payload]);
      });
      await broker.ready;
    });
    await b.evaluate(async () => {
      const m = await import("/pkg/dist/models.js");
      const broker = pz.createPubzub();
      m.localStorageModel(broker);
      await broker.call("model/localStorage/post/cart/items", ["apple", "pear"]);
      localStorage.setItem("by-hand", "plain");
      localStorage.clear();
    });
    const seen = await a.evaluate(async () => {
      await h.until(() => window.seen.length >= 3);
      return window.seen;
    });
    assert.deepEqual(seen, [
      ["model/localStorage/event/cart/items", ["apple", "pear"]],
      ["model/localStorage/event/by-hand", "plain"],
      ["model/localStorage/event", null],
    ]);
    assert.deepEqual(t.problems, []);
  } finally {
    await t.close();
  }
});

test("location: the URL as retained messages, updated on navigation within the page", () =>
  inPage(async () => {
    const m = await import("/pkg/dist/models.js");
    const b = pz.createPubzub();
    history.replaceState(null, "", `${location.pathname}?ws=${encodeURIComponent(h.url())}&tag=a&tag=b`);
    m.locationModel(b);
    const event = h.inbox();
    b.subscribe("model/location/event", event.cb);
    const first = (await event.waitFor(1))[0];
    h.ok(first.retain, "retained: a late subscriber gets it");
    h.eq(first.payload.pathname, "/test/page.html");
    h.eq(first.payload.q.tag, ["a", "b"], "a repeated name is an array");
    h.eq(first.payload.hash, "");
    const hashes = h.inbox();
    b.subscribe("model/location/event/hash", hashes.cb);
    h.eq(await hashes.firstText(), "#", "no hash");
    // Other code navigates: a link to #..., pushState, the back button.
    location.hash = "#details";
    await hashes.waitFor(2);
    history.pushState(null, "", "/test/page.html?view=map");
    await h.until(() => event.got.at(-1).payload.search === "?view=map");
    h.eq(event.got.at(-1).payload.q, { view: "map" }, "pushState is seen (the Navigation API)");
    history.back();
    await h.until(() => event.got.at(-1).payload.hash === "#details");
    h.eq(event.got.at(-1).payload.hash, "#details", "back");
    // Navigation by publishing.
    h.eq((await b.call("model/location/post/hash", "top")).payload, true);
    h.eq(location.hash, "#top");
    await b.call("model/location/post/q", { page: 2, tag: ["x", "y"] });
    h.eq(location.search, "?page=2&tag=x&tag=y");
    h.eq((await b.call("model/location/get/search")).payload, "?page=2&tag=x&tag=y");
    await b.call("model/location/post/push", "/test/page.html?pushed=1");
    h.eq(location.search, "?pushed=1");
    h.eq((await b.call("model/location/get/nothing")).payload, null, "an unknown field");
  }));

test("location: script URLs, data URLs and other origins are refused, and the page stays", () =>
  inPage(async () => {
    const m = await import("/pkg/dist/models.js");
    const b = pz.createPubzub();
    m.locationModel(b);
    const before = location.href;
    window.attacked = false;
    const warn = console.warn;
    console.warn = () => {};
    try {
      for (const url of ["javascript:window.attacked=true", "JavaScript:window.attacked=true", "data:text/html,<script>1</script>"]) {
        const answer = (await b.call("model/location/post/redirect", { url })).payload;
        h.ok(answer instanceof Error && /http: and https: only/.test(answer.message), `${url}: ${answer}`);
      }
      const other = (await b.call("model/location/post/push", "https://example.com/x")).payload;
      h.ok(other instanceof Error && /another origin/.test(other.message), String(other));
      const unknown = (await b.call("model/location/post/format-disk", {})).payload;
      h.ok(unknown instanceof Error, "an unknown request is an error, not a navigation");
    } finally {
      console.warn = warn;
    }
    await h.sleep(100);
    h.eq(window.attacked, false, "no script ran");
    h.eq(location.href, before, "still on the page");
  }));

test("location: redirect loads an http URL", async () => {
  const t = await tabs(1);
  try {
    const [page] = t.pages;
    const target = new URL("/test/page.html?arrived=1", page.url()).href;
    await page.evaluate(async (url) => {
      const m = await import("/pkg/dist/models.js");
      const b = pz.createPubzub();
      m.locationModel(b);
      await b.publish("model/location/post/redirect", { url });
    }, target);
    await page.waitForURL(target);
    assert.deepEqual(t.problems, []);
  } finally {
    await t.close();
  }
});

test("window: online and offline as the browser sees them, focus; document: visibility", async () => {
  const t = await tabs(1);
  try {
    const [page] = t.pages;
    await page.evaluate(async () => {
      const m = await import("/pkg/dist/models.js");
      const b = pz.createPubzub();
      m.windowModel(b);
      m.documentModel(b);
      window.state = {};
      b.subscribe(["model/window/event/+what", "model/document/event/+what"], (msg, { what }) => {
        window.state[what] = msg.payload;
      });
      await b.ready;
    });
    const state = () => page.evaluate(() => window.state);
    assert.equal((await state()).online, true);
    assert.equal((await state()).visibility, await page.evaluate(() => document.visibilityState));
    assert.equal((await state()).focus, await page.evaluate(() => document.hasFocus()));
    await t.context.setOffline(true);
    await page.waitForFunction(() => window.state.online === false);
    await t.context.setOffline(false);
    await page.waitForFunction(() => window.state.online === true);
    assert.deepEqual(t.problems, []);
  } finally {
    await t.close();
  }
});
