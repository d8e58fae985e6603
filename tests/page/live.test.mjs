// pubzub/live in Chromium: live elements showing a topic's latest message, and DOM events
// published by data-on...-topic attributes, locally and through the real server.
import { after, before, test } from "node:test";

import { inPage, start, stop } from "./harness.mjs";

before(start);
after(stop);

test("a live element shows the retained message, then each new one, as text", () =>
  inPage(async () => {
    const live = await import("/pkg/dist/live.js");
    const b = pz.createPubzub();
    live.defineLive(b, { name: "live-a", renderers: { celsius: (msg) => `${msg.payload} °C` } });
    await b.publish("truck/7/temp", 71, { retain: true });
    document.body.insertAdjacentHTML(
      "beforeend",
      `<live-a id="t" topic="truck/7/temp"></live-a><live-a id="c" topic="truck/7/temp" render="celsius"></live-a>
       <live-a id="o" topic="truck/+/info"></live-a>`,
    );
    const [t, c, o] = ["t", "c", "o"].map((id) => document.getElementById(id));
    await h.until(() => t.textContent === "71");
    h.eq([t.textContent, c.textContent], ["71", "71 °C"], "retained, shown at once");
    await b.publish("truck/7/temp", 88);
    h.eq([t.textContent, c.textContent], ["88", "88 °C"], "the latest message");
    await b.publish("truck/9/info", { driver: "ann", load: [1, 2] });
    h.eq(o.textContent, '{"driver":"ann","load":[1,2]}', "an object as JSON");
    // A Node from a render property replaces the content; changing `render` renders again.
    o.render = (msg) => Object.assign(document.createElement("b"), { textContent: msg.payload.driver });
    await b.publish("truck/9/info", { driver: "bo" });
    h.eq(o.innerHTML, "<b>bo</b>");
    c.setAttribute("render", "none-such");
    h.eq(c.textContent, "88", "an unknown renderer: text");
    // Another topic: the element follows its attribute.
    t.setAttribute("topic", "truck/8/temp");
    await b.publish("truck/7/temp", 99);
    h.eq(t.textContent, "88", "no longer on truck/7");
    await b.publish("truck/8/temp", 12);
    h.eq(t.textContent, "12");
  }));

test("markup in a payload stays text: no element is made, no handler runs", () =>
  inPage(async () => {
    const live = await import("/pkg/dist/live.js");
    const b = pz.createPubzub();
    live.defineLive(b, { name: "live-x", renderers: { shout: (msg) => `${msg.payload}!` } });
    document.body.insertAdjacentHTML("beforeend", `<live-x id="x" topic="chat/last"></live-x><live-x id="y" topic="chat/last" render="shout"></live-x>`);
    window.attacked = false;
    const attack = `<img src="data:," onerror="window.attacked = true"><script>window.attacked = true</script>`;
    await b.publish("chat/last", attack);
    await h.sleep(100);
    const [x, y] = [document.getElementById("x"), document.getElementById("y")];
    h.eq([x.textContent, y.textContent], [attack, `${attack}!`]);
    h.eq([x.children.length, y.children.length], [0, 0], "no elements");
    h.eq(window.attacked, false, "nothing ran");
  }));

test("a live element out of the document holds no subscription; a bad topic is a warning, not an error", () =>
  inPage(async () => {
    const live = await import("/pkg/dist/live.js");
    const b = pz.createPubzub();
    live.defineLive(b, { name: "live-r" });
    await b.ready;
    const el = document.createElement("live-r");
    el.setAttribute("topic", "room/1/temp");
    document.body.append(el);
    h.eq(b.subscriptions().length, 1, "subscribed while in the document");
    el.remove();
    h.eq(b.subscriptions().length, 0, "unsubscribed when removed");
    await b.publish("room/1/temp", 5);
    h.eq(el.textContent, "", "nothing shown while out");
    document.body.append(el);
    await b.publish("room/1/temp", 6);
    h.eq(el.textContent, "6", "back in: subscribed again");
    const warned = [];
    const warn = console.warn;
    console.warn = (...args) => warned.push(args.join(" "));
    try {
      document.body.insertAdjacentHTML("beforeend", `<live-r topic="a/#/b"></live-r>`);
    } finally {
      console.warn = warn;
    }
    h.ok(warned.length === 1 && /a\/#\/b/.test(warned[0]), warned.join(" | "));
    const again = await h.rejection(Promise.resolve().then(() => live.defineLive(b, { name: "live-r" })));
    h.ok(again instanceof pz.PubzubError && /already defined/.test(again.message), String(again));
  }));

test("data-on...-topic attributes publish clicks, submits, changes and input with the element's data", () =>
  inPage(async () => {
    const live = await import("/pkg/dist/live.js");
    const b = pz.createPubzub();
    const stopWires = live.wireEvents(b);
    const got = h.inbox();
    b.subscribe("ui/#", got.cb);
    await b.ready; // a click before the module is loaded publishes once it is
    document.body.insertAdjacentHTML(
      "beforeend",
      `<a id="go" href="#elsewhere" data-onclick-topic="ui/truck/horn" data-truck-id="7"><span id="inner">Horn</span></a>
       <a id="follow" href="#followed" data-onclick-topic="ui/follow" data-onclick-cancel="no">Follow</a>
       <form id="f" data-onsubmit-topic="ui/order" data-form="orders">
         <input name="item" value="apple"><input name="tag" value="a"><input name="tag" value="b">
         <button id="send">Send</button>
       </form>
       <input id="box" type="checkbox" data-onchange-topic="ui/opt">
       <input id="q" data-oninput-topic="ui/search">`,
    );
    const hashBefore = location.hash;
    document.getElementById("inner").click();
    h.eq(got.got.at(-1).topic, "ui/truck/horn");
    h.eq(got.got.at(-1).payload, { truckId: "7" }, "a click inside the element; the wiring's own attributes left out");
    h.eq(location.hash, hashBefore, "the link was not followed");
    document.getElementById("follow").click();
    h.eq(location.hash, "#followed", "data-onclick-cancel=no: followed as well");
    const pathBefore = location.href;
    document.getElementById("send").click();
    h.eq(got.got.at(-1).topic, "ui/order");
    h.eq(got.got.at(-1).payload, { form: "orders", value: { item: "apple", tag: ["a", "b"] } });
    await h.sleep(50);
    h.eq(location.href, pathBefore, "the form was not sent");
    document.getElementById("box").click();
    h.eq([got.got.at(-1).topic, got.got.at(-1).payload], ["ui/opt", { value: true }]);
    const q = document.getElementById("q");
    q.value = "pear";
    q.dispatchEvent(new InputEvent("input", { bubbles: true }));
    h.eq([got.got.at(-1).topic, got.got.at(-1).payload], ["ui/search", { value: "pear" }]);
    const count = got.got.length;
    stopWires();
    document.getElementById("inner").click();
    h.eq(got.got.length, count, "after stop: nothing published");
  }));

test("a click publishes through the server to another page's broker", () =>
  inPage(async () => {
    const live = await import("/pkg/dist/live.js");
    const [b] = await h.connected();
    const [other] = await h.connected();
    const got = h.inbox();
    await other.subscribe("bridge/origin/public/live/+what", got.cb, { qos: 1 }).ready;
    live.wireEvents(b);
    document.body.insertAdjacentHTML("beforeend", `<button id="like" data-onclick-topic="bridge/origin/public/live/like" data-post="42">Like</button>`);
    document.getElementById("like").click();
    const [msg] = await got.waitFor(1);
    h.eq([msg.topic, msg.payload], ["bridge/origin/public/live/like", { post: "42", value: "" }]);
  }));
