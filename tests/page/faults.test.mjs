// The bridge under faults, refusals and misuse, in headless Chromium against the real
// pubzub-server (under its control script, which can restart, stop and freeze it, and
// proxies that split and pack what the server sends). Every Promise settles, and nothing
// reaches the page uncaught (the harness fails a test whose page reports an uncaught error).
//
// The server runs with a configuration file (tests/support/server-control.mjs): deny by
// default, so that an anonymous page may not subscribe to or publish on another client's
// `bridge/<id>/...`, and a user name it does not know is refused with 0x86.
import { after, before, test } from "node:test";

import { inPage, start, stop } from "./harness.mjs";

before(start);
after(stop);

test("a refused login rejects connect with its reason code and stops retrying", () =>
  inPage(async () => {
    const b = pz.createPubzub();
    const e = await h.rejection(b.connect({ url: h.url(), username: "nobody", password: "wrong" }));
    h.eq([e.name, e.reasonCode, e instanceof pz.ConnectError], ["ConnectError", 0x86, true]);
    h.ok(/refused the connection/.test(e.message), e.message);
    const states = h.statuses(b);
    await h.sleep(1500); // the first retry would come after 0.5 to 0.75 s
    h.eq(states.got.length, 0, "no retries after a refused login");
    h.ok(/0x86/.test((await b.status()).last_error), "last_error names the code");
  }));

test("an unreachable server rejects connect after the timeout and retries in the background", () =>
  inPage(async () => {
    const urls = [
      "ws://127.0.0.1:9/mqtt-transport", // connection refused
      h.url().replace("/mqtt-transport", "/no-such-path"), // HTTP 404, not 101
    ];
    for (const url of urls) {
      const b = pz.createPubzub();
      const connecting = b.connect({ url, connectTimeout: 700 });
      const states = h.statuses(b);
      const e = await h.rejection(connecting);
      h.eq([e.name, e.reasonCode], ["ConnectError", undefined], url);
      h.ok(/within 700 ms/.test(e.message), e.message);
      const last = (await b.status()).last_error;
      h.ok(/closed before the server accepted/.test(last), last);
      await h.sleep(1200);
      h.ok(states.got.length > 0, `the bridge keeps trying (${url})`);
      await b.disconnect();
    }
  }));

test("a server that sends no CONNACK rejects connect and is left for another try", () =>
  inPage(async () => {
    await h.control("/freeze?ms=2500");
    const b = pz.createPubzub();
    const e = await h.rejection(b.connect({ url: h.url(), connectTimeout: 800 }));
    h.eq([e.name, e.reasonCode], ["ConnectError", undefined]);
    // Once the server answers again, a later try connects.
    const status = await b.connect({ url: h.url(), connectTimeout: 8000 });
    h.eq(status.is_connected, true);
    await b.disconnect();
  }));

test("a url that is not ws: throws at once", () =>
  inPage(async () => {
    const b = pz.createPubzub();
    await b.ready;
    for (const url of ["http://127.0.0.1:1/mqtt-transport", "ftp://x/y"]) {
      let thrown;
      try {
        b.connect({ url });
      } catch (e) {
        thrown = e;
      }
      h.ok(thrown instanceof pz.PubzubError && /ws: or wss:/.test(thrown.message), `${url}: ${thrown?.message}`);
    }
    b.connect({ url: "ws://x/y" }).catch(() => {});
    await b.disconnect();
  }));

test("nothing reaches the page uncaught through disconnects, takeovers, restarts and pagehide", () =>
  inPage(
    async () => {
      const seen = [];
      window.addEventListener("error", (e) => seen.push(`error: ${e.message}`));
      window.addEventListener("unhandledrejection", (e) => seen.push(`unhandledrejection: ${e.reason}`));
      // The watcher sees what this page does not catch (a probe of each kind).
      setTimeout(() => {
        throw new Error("probe");
      });
      Promise.reject(new Error("probe"));
      await h.sleep(100);
      h.eq(seen.length, 2, `the probes: ${seen}`);
      seen.length = 0;
      // connect() then disconnect() at once, and once connected.
      const b = pz.createPubzub();
      const early = b.connect({ url: h.url() });
      await b.disconnect();
      h.eq((await h.rejection(early)).name, "NotConnectedError");
      const [c] = await h.connected();
      await c.disconnect();
      await h.sleep(100);
      // A DISCONNECT from the server: another page takes the client id over (0x8E).
      const [victim, s] = await h.connected();
      const thief = pz.createPubzub();
      thief.connect({ url: h.url(), clientId: s.client_id }).catch(() => {});
      await h.sleep(500);
      await thief.disconnect();
      // A server restart and a lost server (stopped, then started again).
      const [survivor] = await h.connected();
      await h.control("/restart");
      await h.sleep(300);
      await h.control("/stop");
      await h.sleep(300);
      await h.control("/start");
      h.ok(await h.untilConnected(survivor, true), "back after the restarts");
      // The page goes away, and comes back from the back/forward cache.
      h.dispatch("pagehide");
      h.ok(await h.untilConnected(survivor, false, 1000), "left on pagehide");
      h.dispatch("pageshow");
      h.ok(await h.untilConnected(survivor, true), "connected again on pageshow");
      await victim.disconnect();
      await survivor.disconnect();
      h.eq(seen, [], "nothing uncaught");
    },
    undefined,
    { uncaught: true },
  ));

test("a refused subscription rejects ready and leaves nothing behind", () =>
  inPage(async () => {
    const [a] = await h.connected();
    const box = h.inbox();
    const sub = a.subscribe(["bridge/origin/bridge/someone-else/#", "bridge/origin/public/refused/+"], box.cb, { qos: 1 });
    const e = await h.rejection(sub.ready);
    h.eq([e.name, e.reasonCode], ["ServerError", 0x87]);
    h.eq(await a.match("bridge/origin/public/refused/x"), [], "no local entry is left");
    h.eq(a.unsubscribe(sub), false, "the subscription is already gone");
    // The granted filter's reference was given back: a new user and its leaving make the
    // server subscription come and go, so nothing arrives afterwards.
    const other = h.inbox();
    const s2 = a.subscribe(["bridge/origin/public/refused/+", "local/x"], other.cb, { qos: 1 });
    h.eq(await s2.ready, [1, null], "granted per pattern");
    a.unsubscribe(s2);
    await h.sleep(200);
    const [b] = await h.connected();
    await b.publish("bridge/origin/public/refused/1", "x", { qos: 1 });
    await h.sleep(300);
    h.eq([box.got.length, other.got.length], [0, 0], "nothing arrived");
  }));

test("a refused call and a refused lastwill reject with the server's error", () =>
  inPage(async () => {
    const [a] = await h.connected();
    const e = await h.rejection(a.call("bridge/origin/bridge/someone-else/rpc", "hi", { timeout: 5000 }));
    h.eq([e.name, e.reasonCode], ["ServerError", 0x87], "the call");
    const w = await h.rejection(a.lastwill("bridge/origin/bridge/someone-else/gone", "bye"));
    h.eq([w.name, w.reasonCode], ["ServerError", 0x87], "the will");
    h.eq(typeof (await a.lastwill("bridge/origin/public/faults/will", "bye")), "number", "an allowed will is registered");
  }));

test("after disconnect publications reject with NotConnectedError", () =>
  inPage(async () => {
    const [a] = await h.connected();
    await a.disconnect();
    for (const options of [{ qos: 1 }, undefined]) {
      const e = await h.rejection(a.publish("bridge/origin/public/x", 1, options));
      h.eq([e.name, e instanceof pz.NotConnectedError], ["NotConnectedError", true]);
    }
  }));

test("a payload that cannot be sent names its type and topic", () =>
  inPage(async () => {
    const b = pz.createPubzub();
    await b.ready;
    const cyclic = { a: 1 };
    cyclic.self = cyclic;
    const cases = [
      [() => 1, "a function"],
      [Symbol.for("s"), "a Symbol"],
      [7n, "a BigInt"],
      [cyclic, "JSON.stringify cannot encode (Converting circular structure"],
      [{ n: 10n }, "JSON.stringify cannot encode"],
      [new Date(NaN), "an invalid Date"],
    ];
    for (const [value, says] of cases) {
      const e = await h.rejection(b.publish("bridge/origin/public/bad", value));
      h.ok(e instanceof pz.PubzubError && e.message.includes(says) && e.message.includes("bridge/origin/public/bad"), e.message);
      h.ok(!/unwrap|panicked/.test(e.message), e.message);
    }
    // Locally any value goes: it is passed, not encoded.
    await b.publish("local/fn", () => 1);
  }));

test("packets split across messages or packed together are read whole", () =>
  inPage(async () => {
    for (const mode of ["/split", "/pack"]) {
      const a = pz.createPubzub();
      const status = await a.connect({ url: location.origin.replace("http://", "ws://") + mode });
      h.eq(status.is_connected, true, mode);
      const box = h.inbox();
      await a.subscribe("bridge/origin/public/wire/#", box.cb, { qos: 1 }).ready; // SUBACK read
      const [b] = await h.connected();
      const texts = ["one", "x".repeat(3000), "three", ""];
      texts.forEach((text, i) => b.publish(`bridge/origin/public/wire/${i}`, text, { qos: 1 }));
      const got = await box.waitFor(4);
      h.eq(got.map((m) => (typeof m.payload === "string" ? m.payload.length : 0)), [3, 3000, 5, 0], mode);
      // A publication of this page's own, and its PUBACK, through the proxy.
      await a.publish("bridge/origin/public/wire/mine", "m", { qos: 1 });
      await a.disconnect();
    }
  }));

test("a publication over the server's Maximum Packet Size fails alone", () =>
  inPage(async () => {
    const [a] = await h.connected();
    const box = h.inbox();
    await a.subscribe("bridge/origin/public/size/#", box.cb, { qos: 1 }).ready;
    const huge = new Uint8Array(2 * 1024 * 1024);
    const small = a.publish("bridge/origin/public/size/t", "before", { qos: 1 });
    const tooLarge = [a.publish("bridge/origin/public/size/t", huge, { qos: 1 }), a.publish("bridge/origin/public/size/t", huge)];
    const afterwards = a.publish("bridge/origin/public/size/t", "after", { qos: 1 });
    for (const p of tooLarge) {
      const e = await h.rejection(p);
      h.eq([e.name, e.reasonCode, /Maximum Packet Size/.test(e.message)], ["ServerError", 0x95, true]);
    }
    await small;
    await afterwards;
    h.eq((await box.waitFor(2)).map((m) => m.payload), ["before", "after"]);
    h.eq((await a.status()).is_connected, true, "still connected");
  }));

test("MQTT v5 properties go both ways", () =>
  inPage(async () => {
    const [a] = await h.connected();
    const box = h.inbox();
    await a.subscribe("bridge/origin/public/props/#", box.cb, { qos: 1 }).ready;
    const [b] = await h.connected();
    await b.publish("bridge/origin/public/props/x", "hello", {
      qos: 1,
      properties: {
        user_properties: [["k", "1"], ["k", "2"]],
        message_expiry_interval: 60,
        content_type: "text/x-custom",
        payload_format_indicator: true,
        correlation_data: new Uint8Array([1, 2, 3]),
        response_topic: "bridge/origin/public/props-answers",
      },
    });
    const [msg] = await box.waitFor(1);
    const p = msg.properties;
    h.eq(p.user_properties, [["k", "1"], ["k", "2"]], "user properties");
    h.ok(p.message_expiry_interval >= 55 && p.message_expiry_interval <= 60, `expiry ${p.message_expiry_interval}`);
    h.eq([p.content_type, p.payload_format_indicator, [...p.correlation_data], p.response_topic], ["text/x-custom", true, [1, 2, 3], "bridge/origin/public/props-answers"]);
    h.ok(Object.isFrozen(p), "frozen");
    // An explicit, unknown content type: the bytes arrive as bytes.
    h.eq([...msg.payload], [...new TextEncoder().encode("hello")], "the payload as bytes");
  }));

test("a will given up by disconnect is registered on the next connect", () =>
  inPage(async () => {
    const b = pz.createPubzub();
    const { client_id: me } = await b.connect({ url: h.url(), keepAlive: 1 });
    // The server goes silent: the bridge gives the connection up; the server keeps the session.
    await h.control("/freeze?ms=3000");
    h.ok(await h.untilConnected(b, false, 3000), "the silent server was noticed");
    const topic = `bridge/origin/public/faults/requeued/${me}`;
    const will = b.lastwill(topic, "gone", {
      retain: true,
      qos: 1,
      properties: { user_properties: [["why", "left"]], message_expiry_interval: 300, correlation_data: "c-1" },
    });
    await b.disconnect();
    h.eq((await h.rejection(will)).name, "NotConnectedError");
    await h.sleep(2500); // the server is back
    h.eq((await b.connect({ url: h.url() })).session_present, true, "the session was kept");
    await h.sleep(300); // the registration reaches the server
    h.dispatch("pagehide");
    await h.sleep(300);
    const [, box] = await h.watching("bridge/origin/public/faults/requeued/#");
    h.eq(await box.firstText(), "gone");
    const p = box.got[0].properties;
    h.eq([p.user_properties, p.message_expiry_interval <= 300, new TextDecoder().decode(p.correlation_data)], [[["why", "left"]], true, "c-1"]);
    // Clear the retained will for later runs.
    const [cleaner] = await h.connected();
    await cleaner.publish(topic, undefined, { retain: true, qos: 1 });
  }));
