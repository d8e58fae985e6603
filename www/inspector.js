// The page broker seen from inside: subscriptions, retained topics, a live message log.
import { start, el, pubzub } from "/shared.js";

const log = document.getElementById("log");
const retained = new Map(); // topic -> payload text

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** A payload as text: bytes without a content type (mosquitto_pub's) as UTF-8 if they are. */
function text(payload) {
  if (payload instanceof Uint8Array) {
    try {
      return utf8.decode(payload);
    } catch {
      return `${payload.length} bytes`;
    }
  }
  return typeof payload === "string" ? payload : JSON.stringify(payload);
}

function row(...cells) {
  const tr = el("tr");
  for (const c of cells) {
    const td = el("td");
    td.append(el("code", c));
    tr.append(td);
  }
  return tr;
}

let renderSoon;
/** Renders after the current delivery (and whatever it set off) is over. */
function scheduleRender() {
  renderSoon ??= setTimeout(() => {
    renderSoon = undefined;
    render();
  }, 0);
}

function render() {
  document.getElementById("subscriptions").replaceChildren(
    ...pubzub.subscriptions().map((s) => row(s.patterns.join(", "))),
  );
  document.getElementById("retained").replaceChildren(
    ...[...retained].sort().map(([topic, value]) => row(topic, value)),
  );
}

function watch(pattern) {
  pubzub.subscribe(pattern, (msg, _bindings, info) => {
    const line = el("div", undefined, "line");
    line.append(el("span", msg.topic, "who"), el("span", text(msg.payload)));
    if (msg.retain) line.append(el("span", " · retained", "muted"));
    line.title = `via ${info.topic}`;
    log.prepend(line);
    if (log.childElementCount > 200) log.lastChild.remove();
    // Everything retained reaches a new `#` subscriber; later retained publications pass by.
    if (msg.retain || retained.has(msg.topic)) {
      const value = text(msg.payload);
      if (value === "") retained.delete(msg.topic);
      else retained.set(msg.topic, value);
    }
    scheduleRender();
  });
  scheduleRender();
}

watch("#");
watch("$bridge/#");

document.getElementById("publish").addEventListener("submit", async (e) => {
  e.preventDefault();
  const raw = document.getElementById("payload").value;
  let payload;
  try {
    payload = raw === "" ? "" : JSON.parse(raw);
  } catch {
    payload = raw;
  }
  const topic = document.getElementById("topic").value;
  const retain = document.getElementById("retain").checked;
  try {
    await pubzub.publish(topic, payload, { retain, qos: topic.startsWith("bridge/origin/") ? 1 : 0 });
    if (retain && !topic.startsWith("bridge/origin/")) {
      if (raw === "") retained.delete(topic);
      else retained.set(topic, text(payload));
      scheduleRender();
    }
  } catch (err) {
    alert(err.message);
  }
});

document.getElementById("watch").addEventListener("submit", (e) => {
  e.preventDefault();
  try {
    watch(document.getElementById("pattern").value);
  } catch (err) {
    alert(err.message);
  }
});

await start();
