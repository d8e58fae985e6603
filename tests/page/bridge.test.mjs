// The bridge in headless Chromium against the real pubzub-server: relaying both ways with
// payload types, routing ids, QoS answers, reference-counted server subscriptions, outbox
// order, call, lastwill, a server restart, keep alive, the offline outbox, and sessions.
import { after, before, test } from "node:test";

import { inPage, start, stop } from "./harness.mjs";

before(start);
after(stop);

test("status names the assigned client and routing ids", () =>
  inPage(async () => {
    const [, status] = await h.connected();
    h.eq(status.client_id.length, 20, "client id");
    h.eq(status.routing_id.length, 20, "routing id");
    h.eq(status.session_present, false, "session present");
  }));

test("messages relay both ways with their types", () =>
  inPage(async () => {
    const [a] = await h.connected();
    const [b] = await h.connected();
    const box = h.inbox();
    await a.subscribe("bridge/origin/public/relay/+kind", box.cb, { qos: 1 }).ready;
    const values = [
      ["text", "hello"],
      ["int", 42],
      ["float", 2.5],
      ["json", { a: [1, true, null] }],
      ["bytes", new Uint8Array([0, 255, 7])],
      ["date", new Date("2026-12-01T10:00:00.000Z")],
    ];
    for (const [kind, value] of values) await b.publish(`bridge/origin/public/relay/${kind}`, value, { qos: 1 });
    const got = await box.waitFor(values.length);
    values.forEach(([kind, value], i) => {
      h.eq(got[i].topic, `bridge/origin/public/relay/${kind}`, "topic");
      if (kind === "bytes") h.eq([...got[i].payload], [0, 255, 7], kind);
      else if (kind === "date") h.eq(got[i].payload instanceof Date && got[i].payload.toISOString(), value.toISOString(), kind);
      else h.eq(got[i].payload, value, kind);
    });
  }));

test("the routing id addresses a page directly", () =>
  inPage(async () => {
    const [a, status] = await h.connected();
    const [b] = await h.connected();
    const box = h.inbox();
    a.subscribe("public/direct", box.cb);
    await b.publish(`bridge/origin/bridge/${status.routing_id}/public/direct`, "for a", { qos: 1 });
    h.eq(await box.firstText(), "for a");
  }));

test("QoS 1 promises resolve on PUBACK and reject with the reason code", () =>
  inPage(async () => {
    const [a] = await h.connected();
    h.eq(await h.outcome(a.publish("bridge/origin/public/ok", "x", { qos: 1 })), ["ok", null]);
    const e = await h.rejection(a.publish("bridge/origin/private/no", "x", { qos: 1 }));
    h.eq([e.name, e.reasonCode, e instanceof pz.ServerError], ["ServerError", 0x87, true], "0x87 not authorized");
  }));

test("server subscriptions follow the last local subscriber", () =>
  inPage(async () => {
    const [a] = await h.connected();
    const [b] = await h.connected();
    const [first, second, marker] = [h.inbox(), h.inbox(), h.inbox()];
    const one = a.subscribe("bridge/origin/public/rc", first.cb);
    const two = a.subscribe("bridge/origin/public/rc", second.cb);
    await a.subscribe("bridge/origin/public/marker", marker.cb).ready;
    await Promise.all([one.ready, two.ready]);
    a.unsubscribe(one);
    await h.sleep(100);
    await b.publish("bridge/origin/public/rc", "still", { qos: 1 });
    await second.waitFor(1);
    a.unsubscribe(two);
    await h.sleep(100);
    await b.publish("bridge/origin/public/rc", "gone", { qos: 1 });
    await b.publish("bridge/origin/public/marker", "m", { qos: 1 });
    await marker.waitFor(1);
    h.eq(first.got.length, 0, "the first left before anything came");
    h.eq(second.got.length, 1, "nothing after the last unsubscribe");
  }));

test("the outbox keeps order across QoS 0 and 1", () =>
  inPage(async () => {
    const [a] = await h.connected();
    const [b] = await h.connected();
    const box = h.inbox();
    await b.subscribe("bridge/origin/public/order/#", box.cb, { qos: 1 }).ready;
    let last;
    for (let i = 0; i < 60; i++) {
      last = a.publish(`bridge/origin/public/order/${String(i).padStart(2, "0")}`, i, { qos: i % 3 === 0 ? 0 : 1 });
    }
    await last;
    const got = await box.waitFor(60);
    h.eq(got.map((m) => m.topic), Array.from({ length: 60 }, (_, i) => `bridge/origin/public/order/${String(i).padStart(2, "0")}`));
  }));

test("call reaches a responder on the server side, and a local one; a silent one times out", () =>
  inPage(async () => {
    const [a] = await h.connected();
    const [responder] = await h.connected();
    // The responder answers on the request's response topic as it shows it
    // (`bridge/origin/bridge/<a's routing id>/reply/...`), through the server.
    const seen = [];
    await responder.subscribe("bridge/origin/public/double", (m) => {
      seen.push(m.properties.response_topic);
      responder.publish(m.properties.response_topic, m.payload * 2);
    }).ready;
    const reply = await a.call("bridge/origin/public/double", 21, { timeout: 5000 });
    h.eq(reply.payload, 42, "the doubled number");
    h.ok(seen[0].startsWith("bridge/origin/bridge/"), seen[0]);
    a.subscribe("svc/local", (m) => a.publish(m.properties.response_topic, "local answer"));
    h.eq((await a.call("svc/local", null)).payload, "local answer");
    const e = await h.rejection(a.call("svc/nobody", null, { timeout: 100 }));
    h.eq([e.name, e instanceof pz.TimeoutError, /no reply on svc\/nobody within 100 ms/.test(e.message)], ["TimeoutError", true, true]);
  }));

test("a lastwill fires when the page goes; a removed one does not", () =>
  inPage(async () => {
    const [a, status] = await h.connected();
    const me = status.client_id;
    await a.lastwill(`bridge/origin/public/presence/${me}`, { left: true }, { retain: true, qos: 1 });
    const removed = await a.lastwill(`bridge/origin/public/presence/${me}-never`, "x", { retain: true, qos: 1 });
    h.eq(await a.removeLastwill(removed), true, "removed");
    await h.sleep(200);
    // The page goes away: pagehide makes every connected bridge of the page send DISCONNECT
    // 0x04, and the server publishes the will (retained: a page that comes later sees it).
    h.dispatch("pagehide");
    await h.sleep(300);
    const [, box] = await h.watching("bridge/origin/public/presence/#");
    const got = await box.waitFor(1);
    h.eq(got[0].topic, `bridge/origin/public/presence/${me}`);
    h.eq(got[0].payload, { left: true });
    h.eq(got[0].retain, true, "a retained message from the server says so");
    await h.sleep(200);
    h.ok(!box.topics().some((t) => t.endsWith("-never")), "the removed will did not fire");
  }));

test("a server restart mid-stream loses no QoS 1 message and keeps order", () =>
  inPage(async () => {
    const [a] = await h.connected();
    const sent = [];
    let restart;
    for (let i = 0; i < 40; i++) {
      sent.push(a.publish(`bridge/origin/public/restart/${String(i).padStart(2, "0")}`, i, { qos: 1 }));
      // Not awaited: the server goes away while the page keeps publishing.
      if (i === 15) restart = h.control("/restart");
      await h.sleep(10);
    }
    await Promise.all(sent); // every QoS 1 message is acknowledged in the end
    await restart;
    const observed = await h.observedUnder("public/restart/", 40);
    // At least once: a message in flight at the restart may come twice.
    const seen = observed.filter((t, i) => t !== observed[i - 1]);
    h.eq(seen, Array.from({ length: 40 }, (_, i) => `public/restart/${String(i).padStart(2, "0")}`), `observed ${observed}`);
  }));

test("a server that stops answering is detected by keep alive", () =>
  inPage(async () => {
    const b = pz.createPubzub();
    const states = h.inbox();
    b.subscribe("$bridge/origin/status", states.cb);
    const connectedNow = () => states.got.at(-1)?.payload.is_connected === true;
    b.connect({ url: h.url(), keepAlive: 1 });
    h.ok(await h.until(connectedNow), "connected");
    const frozenAt = Date.now();
    await h.control("/freeze?ms=4000");
    h.ok(await h.until(() => !connectedNow(), 4000), "the bridge noticed the silent server");
    const lostAfter = Date.now() - frozenAt;
    h.ok(lostAfter < 3500, `noticed after ${lostAfter} ms, before the server woke up`);
    h.ok(await h.until(connectedNow, 10000), "reconnected once the server woke up");
    await b.disconnect();
  }));

test("offline the outbox is bounded; back online it flushes in order, resubscribes and rewills", () =>
  inPage(async () => {
    const b = pz.createPubzub();
    b.connect({ url: h.url(), maxQueued: 10 });
    h.ok(await h.untilConnected(b, true), "connected");
    const me = (await b.status()).client_id;
    const echo = h.inbox();
    await b.subscribe("bridge/origin/public/offline/echo", echo.cb, { qos: 1 }).ready;
    await b.lastwill(`bridge/origin/public/offline/will/${me}`, "gone", { qos: 1, retain: true });

    await h.control("/stop");
    const stoppedAt = Date.now();
    h.ok(await h.untilConnected(b, false), "noticed the stop");
    // Three QoS 1 messages, then ten QoS 0: the oldest three QoS 0 make room.
    const acked = [0, 1, 2].map((i) => b.publish(`bridge/origin/public/offline/q1-${i}`, i, { qos: 1 }));
    const qos0 = Array.from({ length: 10 }, (_, i) => b.publish(`bridge/origin/public/offline/q0-${i}`, i));
    const status = await b.status();
    h.eq([status.queued, status.dropped], [10, 3], JSON.stringify(status));
    for (const p of qos0.splice(0, 3)) {
      const e = await h.rejection(p);
      h.eq([e.name, /offline queue/.test(e.message)], ["QueueFullError", true], e.message);
    }
    // Reconnect attempts back off: 0.5, 1, 2 s (each up to 50% more) have passed by 5.25 s,
    // and the next comes 4 s later at the earliest, so at 5.3..7.5 s only the window's
    // `online` event can bring the bridge back.
    await h.sleep(Math.max(0, 5300 - (Date.now() - stoppedAt)));
    await h.control("/start");
    h.dispatch("online");
    h.ok(await h.untilConnected(b, true, 1500), "reconnected on `online`");
    const sinceStop = Date.now() - stoppedAt;
    h.ok(sinceStop < 7500, `back after ${sinceStop} ms: not the backoff timer`);
    h.eq((await b.status()).session_present, false, "a new server has no session");
    await Promise.all([...acked, ...qos0]); // delivered or written after the restart
    await h.sleep(300);
    const expected = [0, 1, 2].map((i) => `public/offline/q1-${i}`).concat([3, 4, 5, 6, 7, 8, 9].map((i) => `public/offline/q0-${i}`));
    h.eq(await h.observedUnder("public/offline/q", expected.length), expected, "flushed in order");
    // The new server knew nothing of the subscription: the bridge subscribed again.
    b.publish("bridge/origin/public/offline/echo", "still subscribed", { qos: 1 });
    h.eq(await echo.firstText(), "still subscribed");
    // Nor of the will: the bridge registered it again.
    h.dispatch("pagehide");
    await h.sleep(300);
    const [, box] = await h.watching(`bridge/origin/public/offline/will/${me}`);
    h.eq(await box.firstText(), "gone");
  }));

test("subscriptions and publications made before connect are kept", () =>
  inPage(async () => {
    const b = pz.createPubzub();
    const box = h.inbox();
    b.subscribe("bridge/origin/public/early/#", box.cb, { qos: 1 });
    const sent = b.publish("bridge/origin/public/early/hello", "before connecting", { qos: 1 });
    b.connect({ url: h.url() });
    await sent; // acknowledged once connected
    const got = await box.waitFor(1);
    h.eq([got[0].topic, got[0].payload], ["bridge/origin/public/early/hello", "before connecting"]);
    await b.disconnect();
  }));

test("connecting again after disconnect resumes the same session", () =>
  inPage(async () => {
    const [b, first] = await h.connected();
    await b.disconnect();
    h.ok(await h.untilConnected(b, false, 2000), "disconnected");
    const again = await b.connect({ url: h.url(), keepAlive: 20 });
    h.eq([again.client_id, again.session_present], [first.client_id, true]);
    await b.disconnect();
  }));
