/**
 * `model/location/...`, after cotonic's location model: the page's URL as retained messages,
 * updated on every navigation within the page (links to `#...`, the back and forward
 * buttons, `history.pushState` and `replaceState` where the browser has the Navigation API),
 * and navigation by publishing.
 *
 * Retained: `model/location/event` (`{href, origin, protocol, host, hostname, port, pathname,
 * search, hash, q}`, `q` the query as an object, repeated names as arrays),
 * `model/location/event/pathname`, `.../q` and `.../hash` (`"#"` for none), each published
 * when it changed.
 *
 * Posts: `redirect` (payload a URL or `{url}`: loads it; http: and https: only), `push` and
 * `replace` (same-origin URL: a history entry without a load), `hash` (the hash, replacing
 * the entry), `q` (an object: the query, replacing the entry), `reload`, `back`.
 * `call("model/location/get/<field>")` answers a field of the event.
 */
import { type Host, type Stop, byName, keep, listen, reply } from "../host.js";

/** What `model/location/event` holds. */
export interface LocationEvent {
  readonly href: string;
  readonly origin: string;
  readonly protocol: string;
  readonly host: string;
  readonly hostname: string;
  readonly port: string;
  readonly pathname: string;
  readonly search: string;
  readonly hash: string;
  readonly q: Readonly<Record<string, string | readonly string[]>>;
}

/** The URL a `redirect`, `push` or `replace` payload names, resolved against the page's. */
function target(payload: unknown): URL {
  const given = typeof payload === "object" && payload !== null ? (payload as { url?: unknown }).url : payload;
  if (typeof given !== "string") throw new Error("the payload is a URL, or {url}");
  return new URL(given, location.href);
}

/** A `model/location/post/...` request, checked: navigating to script or data URLs is refused. */
function navigate(what: string, payload: unknown): void {
  switch (what) {
    case "redirect": {
      const url = target(payload);
      if (url.protocol !== "http:" && url.protocol !== "https:") {
        throw new Error(`${url.protocol} URLs are not loaded: http: and https: only`);
      }
      location.assign(url.href);
      return;
    }
    case "push":
    case "replace": {
      const url = target(payload);
      if (url.origin !== location.origin) throw new Error(`${url.origin} is another origin: use redirect`);
      history[what === "push" ? "pushState" : "replaceState"](history.state, "", url.href);
      return;
    }
    case "hash": {
      const hash = typeof payload === "string" ? payload.replace(/^#/, "") : "";
      history.replaceState(history.state, "", `#${hash}`);
      return;
    }
    case "q": {
      const params = new URLSearchParams();
      for (const [name, value] of Object.entries((payload ?? {}) as Record<string, unknown>)) {
        for (const v of Array.isArray(value) ? value : [value]) params.append(name, String(v));
      }
      const search = params.size > 0 ? `?${params}` : location.pathname;
      history.replaceState(history.state, "", `${search}${location.hash}`);
      return;
    }
    case "reload":
      location.reload();
      return;
    case "back":
      history.back();
      return;
    default:
      throw new Error(`model/location/post/${what}: no such request`);
  }
}

/** Serves `model/location/...` on `host` until the returned function is called. */
export function locationModel(host: Host): Stop {
  let last: LocationEvent | undefined;
  const update = () => {
    if (last?.href === location.href) return;
    const now: LocationEvent = Object.freeze({
      href: location.href,
      origin: location.origin,
      protocol: location.protocol,
      host: location.host,
      hostname: location.hostname,
      port: location.port,
      pathname: location.pathname,
      search: location.search,
      hash: location.hash,
      q: Object.freeze(byName(new URLSearchParams(location.search))),
    });
    keep(host, "model/location/event", now);
    if (last?.pathname !== now.pathname) keep(host, "model/location/event/pathname", now.pathname);
    if (last?.search !== now.search) keep(host, "model/location/event/q", now.q);
    // An empty retained payload would clear the topic: no hash is "#".
    if (last?.hash !== now.hash) keep(host, "model/location/event/hash", now.hash || "#");
    last = now;
  };
  const nav = (globalThis as { navigation?: EventTarget }).navigation;
  const stops = [
    listen(globalThis, "popstate", update),
    listen(globalThis, "hashchange", update),
    ...(nav ? [listen(nav, "currententrychange", update)] : []),
  ];
  const subs = [
    host.subscribe("model/location/get/+field", (msg, { field }) => {
      update();
      reply(host, msg, Object.hasOwn(last as object, field) ? last?.[field as keyof LocationEvent] : null);
    }),
    host.subscribe("model/location/post/+what", (msg, { what }) => {
      let outcome: unknown = true;
      try {
        navigate(what, msg.payload);
      } catch (e) {
        outcome = e instanceof Error ? e : new Error(String(e));
        console.warn(`pubzub: model/location/post/${what}:`, outcome);
      }
      update(); // push, replace, hash and q fire no event without the Navigation API
      reply(host, msg, outcome);
    }),
  ];
  update();
  keep(host, "model/location/event/ping", "pong");
  return () => {
    for (const stop of stops) stop();
    for (const sub of subs) sub.unsubscribe();
    keep(host, "model/location/event/ping", "");
  };
}
