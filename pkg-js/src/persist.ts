/**
 * Retained messages kept across page reloads in sessionStorage, binary-safe: each payload is
 * stored as its MQTT bytes (base64) and content type, and comes back as the same kind of JS
 * value (string, number, JSON value, Date, Uint8Array). The format is that of pubzub 0.1:
 * a JSON array of `{topic, qos, properties, content_type, data}`.
 */
import type { Broker } from "./broker.js";
import { PubzubError } from "./errors.js";
import { decode, encode } from "./payload.js";
import type { QoS } from "./types.js";

interface Saved {
  topic?: unknown;
  qos?: unknown;
  properties?: unknown;
  content_type?: unknown;
  data?: unknown;
}

/** The key each broker saves under, and the `pagehide` listener that saves it. */
const keys = new WeakMap<Broker, string>();

function storage(): Storage {
  if (typeof window === "undefined") throw new PubzubError("persist needs a browser window with sessionStorage");
  try {
    return window.sessionStorage;
  } catch {
    throw new PubzubError("sessionStorage is not available");
  }
}

/** Base64 of bytes, by the browser's `btoa`. */
function base64(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

function unbase64(data: string): Uint8Array {
  const binary = atob(data);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** Saves every retained message of `broker` under its key now. */
export function saveNow(broker: Broker): void {
  const key = keys.get(broker);
  if (key === undefined) throw new PubzubError("this broker was made without the persist option");
  const entries = broker.retainedMessages().map((msg) => {
    const [bytes, contentType] = (() => {
      try {
        return encode(msg.payload, msg.topic);
      } catch (e) {
        const why = (e as Error).message.replace(`cannot publish on ${msg.topic}: `, "");
        throw new PubzubError(`cannot persist the retained message on ${msg.topic}: ${why}`);
      }
    })();
    return { topic: msg.topic, qos: msg.qos, properties: msg.properties, content_type: contentType ?? null, data: base64(bytes) };
  });
  const store = storage();
  try {
    store.setItem(key, JSON.stringify(entries));
  } catch {
    throw new PubzubError("sessionStorage refused the retained messages (full?)");
  }
}

/**
 * Restores what was saved under `key` into `broker` (throws for an entry that is not JSON),
 * and saves there on `pagehide` from now on, while the broker lives.
 */
export function restore(broker: Broker, key: string): void {
  const text = storage().getItem(key);
  if (text !== null) {
    let entries: unknown;
    try {
      entries = JSON.parse(text);
    } catch {
      throw new PubzubError("the saved retained messages are not JSON");
    }
    for (const e of Array.isArray(entries) ? (entries as Saved[]) : []) {
      if (typeof e?.topic !== "string" || typeof e.data !== "string") continue;
      let bytes: Uint8Array;
      try {
        bytes = unbase64(e.data);
      } catch {
        continue;
      }
      const type = typeof e.content_type === "string" ? e.content_type : undefined;
      const value = type === undefined && bytes.length === 0 ? undefined : decode(bytes, type);
      const qos = Math.min(Math.max(Math.trunc(Number(e.qos) || 0), 0), 2) as QoS;
      try {
        broker.restore(e.topic, value, qos, e.properties);
      } catch {
        // a topic that is no longer valid is left behind
      }
    }
  }
  keys.set(broker, key);
  const weak = new WeakRef(broker);
  const onPagehide = () => {
    const live = weak.deref();
    if (live === undefined) {
      window.removeEventListener("pagehide", onPagehide);
      return;
    }
    try {
      saveNow(live);
    } catch (e) {
      console.error("pubzub: cannot persist the retained messages", e);
    }
  };
  window.addEventListener("pagehide", onPagehide);
}
