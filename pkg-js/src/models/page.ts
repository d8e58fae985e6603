/**
 * `model/document/...` and `model/window/...`: what the page knows of itself, as retained
 * messages updated when it changes.
 *
 * - `model/document/event/visibility`: `"visible"` or `"hidden"` (a background tab, a
 *   minimised window);
 * - `model/window/event/online`: whether the browser thinks it is online;
 * - `model/window/event/focus`: whether the page has the focus.
 */
import { type Host, type Stop, keep, listen } from "../host.js";

/** Serves `model/document/...` on `host` until the returned function is called. */
export function documentModel(host: Host): Stop {
  const visibility = () => keep(host, "model/document/event/visibility", document.visibilityState);
  const stop = listen(document, "visibilitychange", visibility);
  visibility();
  keep(host, "model/document/event/ping", "pong");
  return () => {
    stop();
    keep(host, "model/document/event/ping", "");
  };
}

/** Serves `model/window/...` on `host` until the returned function is called. */
export function windowModel(host: Host): Stop {
  const online = () => keep(host, "model/window/event/online", navigator.onLine);
  const focus = () => keep(host, "model/window/event/focus", document.hasFocus());
  const stops = ["online", "offline"].map((t) => listen(globalThis, t, online));
  stops.push(...["focus", "blur"].map((t) => listen(globalThis, t, focus)));
  online();
  focus();
  keep(host, "model/window/event/ping", "pong");
  return () => {
    for (const stop of stops) stop();
    keep(host, "model/window/event/ping", "");
  };
}
