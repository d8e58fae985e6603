// The page broker's local side where it needs a browser: retained messages kept in
// sessionStorage, and what a broker leaves behind (timers, window listeners).
import { after, before, test } from "node:test";

import { inPage, start, stop } from "./harness.mjs";

before(start);
after(stop);

test("retained messages survive a reload in sessionStorage, binary-safe", () =>
  inPage(async () => {
    const key = `pubzub-test-${Math.random()}`;
    const a = pz.createPubzub({ persist: key });
    await a.publish("keep/text", "hello", { retain: true });
    await a.publish("keep/bytes", new Uint8Array([0, 1, 128, 255]), { retain: true, qos: 1 });
    await a.publish("keep/json", { n: [1, 2] }, { retain: true, properties: { user_properties: [["k", "v"]] } });
    await a.publish("keep/when", new Date("2026-12-01T00:00:00.000Z"), { retain: true });
    await a.publish("keep/gone", "x", { retain: true });
    await a.publish("keep/gone", "", { retain: true });
    await a.publish("keep/live", "not retained");
    await a.persist();
    // A new broker on the same key: the page after a reload.
    const b = pz.createPubzub({ persist: key });
    const got = [];
    b.subscribe("keep/+what", (m, { what }) => {
      const shown = m.payload instanceof Uint8Array ? [...m.payload] : m.payload instanceof Date ? m.payload.toISOString() : m.payload;
      got.push([what, shown, m.qos, m.retain, m.properties]);
    });
    await b.ready;
    got.sort((x, y) => (x[0] < y[0] ? -1 : 1));
    h.eq(got, [
      ["bytes", [0, 1, 128, 255], 1, true, {}],
      ["json", { n: [1, 2] }, 0, true, { user_properties: [["k", "v"]] }],
      ["text", "hello", 0, true, {}],
      ["when", "2026-12-01T00:00:00.000Z", 0, true, {}],
    ]);
    const e = await h.rejection(pz.createPubzub().persist());
    h.ok(e instanceof pz.PubzubError && /without the persist option/.test(e.message), e.message);
    sessionStorage.setItem("pubzub-corrupt", "{not json");
    const corrupt = pz.createPubzub({ persist: "pubzub-corrupt" });
    const why = await h.rejection(corrupt.ready);
    h.ok(/not JSON/.test(why.message), why.message);
    h.ok(/not JSON/.test((await h.rejection(corrupt.publish("a", 1))).message), "later calls fail with the reason");
  }));

test("a call's timer is cleared by its reply, and a broker that is gone leaves no listener", () =>
  inPage(async () => {
    const spy = { cleared: 0, removed: [] };
    const clear = window.clearTimeout.bind(window);
    window.clearTimeout = (id) => {
      spy.cleared += 1;
      clear(id);
    };
    const remove = window.removeEventListener.bind(window);
    window.removeEventListener = (name, f, o) => {
      spy.removed.push(name);
      remove(name, f, o);
    };
    const b = pz.createPubzub();
    b.subscribe("svc/ping", (m) => b.publish(m.properties.response_topic, "pong"));
    h.eq((await b.call("svc/ping", null, { timeout: 60000 })).payload, "pong");
    h.eq(spy.cleared, 1, "the timeout is cleared");
    // Made and dropped in a task of its own, so that nothing here holds it.
    setTimeout(() => pz.createPubzub({ persist: "listener-test" }));
    await h.sleep(100);
    for (let i = 0; i < 3; i++) {
      gc();
      await h.sleep(20);
    }
    h.dispatch("pagehide");
    h.eq(spy.removed, ["pagehide"], "the persisted broker's pagehide listener went with it");
  }));
