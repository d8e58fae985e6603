// The truck fleet: one subscription with named wildcards; retained values show at once.
import { start, el, pubzub } from "/shared.js";

const fleet = document.getElementById("fleet");
const lastBindings = document.getElementById("bindings");
const cards = new Map(); // truck id -> {temperature, speed, position} elements

function card(id) {
  let c = cards.get(id);
  if (!c) {
    const root = el("section", undefined, "card truck");
    root.dataset.truck = id;
    const title = el("h2");
    title.append(el("span", id), el("span", "", "muted"));
    const metrics = el("div", undefined, "grid");
    metrics.style.gridTemplateColumns = "1fr 1fr";
    const temperature = el("div", "–", "metric");
    const speed = el("div", "–", "metric");
    const t = el("div");
    t.append(el("div", "engine °C", "muted"), temperature);
    const s = el("div");
    s.append(el("div", "km/h", "muted"), speed);
    metrics.append(t, s);
    const position = el("div", "position unknown", "muted");
    root.append(title, metrics, position);
    c = { root, temperature, speed, position, updated: title.lastChild };
    cards.set(id, c);
    fleet.append(...[...cards.keys()].sort().map((k) => cards.get(k).root));
  }
  return c;
}

pubzub.subscribe("bridge/origin/public/truck/+id/#what", (msg, bindings) => {
  lastBindings.textContent = JSON.stringify(bindings);
  document.getElementById("hint").hidden = true;
  const c = card(bindings.id);
  const [what] = bindings.what;
  if (what === "temperature") c.temperature.textContent = msg.payload.toFixed(1);
  else if (what === "speed") c.speed.textContent = String(msg.payload);
  else if (what === "position") c.position.textContent = `${msg.payload.lat.toFixed(4)}, ${msg.payload.lon.toFixed(4)}`;
  c.updated.textContent = msg.retain ? "retained" : "live";
});

await start();
