// What every demo page shares: the navigation bar with the bridge's status, and the broker.
import pubzub from "/pkg/dist/index.js";

const pages = [
  ["/", "Home"],
  ["/chat.html", "Chat"],
  ["/dashboard.html", "Dashboard"],
  ["/inspector.html", "Inspector"],
];

/** Puts the header on the page and connects the bridge; resolves with the first status. */
export function start() {
  const header = document.createElement("header");
  const links = pages
    .map(([href, name]) => `<a href="${href}"${location.pathname === href ? ' aria-current="page"' : ""}>${name}</a>`)
    .join("");
  header.innerHTML = `<a class="brand" href="/">pubzub</a><nav>${links}</nav><span class="badge" id="bridge">connecting…</span>`;
  document.body.prepend(header);
  const badge = header.querySelector("#bridge");
  pubzub.on("status", (s) => {
    badge.textContent = s.is_connected ? "connected" : `offline${s.queued ? ` (${s.queued} queued)` : ""}`;
    badge.classList.toggle("online", s.is_connected);
    badge.title = s.client_id ? `client ${s.client_id}` : "";
  });
  return pubzub.connect(); // ws(s)://<this host>/mqtt-transport
}

/** Text for an element, never HTML. */
export function el(tag, text, className) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (className) e.className = className;
  return e;
}

export { pubzub };
