/**
 * `model/localStorage/...` and `model/sessionStorage/...`, after cotonic's storage models:
 *
 * - `call("model/localStorage/get/<key>")` answers the stored value (`null` when there is none);
 * - publishing to `model/localStorage/post/<key>` stores the payload (as JSON) and answers it;
 * - publishing to `model/localStorage/delete/<key>` removes the key and answers `null`;
 * - `model/localStorage/event/<key>` carries every change, this tab's and, for localStorage,
 *   another tab's of the same origin (the browser's `storage` event); a `clear()` in another
 *   tab comes as `null` on `model/localStorage/event`.
 *
 * A key is the rest of the topic, levels and slashes included (`post/prefs/theme` stores
 * `prefs/theme`). A failed write (the storage is full or blocked) answers an `Error`.
 */
import { type Host, type Stop, announce, keep, listen, reply } from "../host.js";

export type StorageArea = "localStorage" | "sessionStorage";

/** A stored string as the value it was stored from: JSON, or the string itself. */
function parse(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text; // written by other code, not as JSON
  }
}

function storageModel(host: Host, area: StorageArea): Stop {
  const base = `model/${area}`;
  const storage = (): Storage => globalThis[area];
  const key = (levels: readonly string[]) => levels.join("/");
  const attempt = (f: () => unknown): unknown => {
    try {
      return f();
    } catch (e) {
      return e instanceof Error ? e : new Error(String(e));
    }
  };
  const subs = [
    host.subscribe(`${base}/get/#key`, (msg, b) => reply(host, msg, attempt(() => parse(storage().getItem(key(b.key)))))),
    host.subscribe(`${base}/post/#key`, (msg, b) => {
      const k = key(b.key);
      const failed = attempt(() => storage().setItem(k, JSON.stringify(msg.payload ?? null)));
      reply(host, msg, failed ?? msg.payload);
      if (failed === undefined) announce(host, `${base}/event/${k}`, msg.payload ?? null);
    }),
    host.subscribe(`${base}/delete/#key`, (msg, b) => {
      const k = key(b.key);
      const failed = attempt(() => storage().removeItem(k));
      reply(host, msg, failed ?? null);
      if (failed === undefined) announce(host, `${base}/event/${k}`, null);
    }),
  ];
  const unlisten = listen(globalThis, "storage", (e) => {
    const s = e as StorageEvent;
    if (s.storageArea !== storage()) return;
    announce(host, s.key === null ? `${base}/event` : `${base}/event/${s.key}`, parse(s.newValue));
  });
  keep(host, `${base}/event/ping`, "pong");
  return () => {
    unlisten();
    for (const sub of subs) sub.unsubscribe();
    keep(host, `${base}/event/ping`, "");
  };
}

/** Serves `model/localStorage/...` on `host` until the returned function is called. */
export function localStorageModel(host: Host): Stop {
  return storageModel(host, "localStorage");
}

/** Serves `model/sessionStorage/...` on `host` until the returned function is called. */
export function sessionStorageModel(host: Host): Stop {
  return storageModel(host, "sessionStorage");
}
