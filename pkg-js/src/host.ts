/**
 * What a page model or a live element needs of a broker (`pubzub` or `pubzub/local`), and
 * the small steps they share: answering a `call`, keeping state retained, listening.
 */
import type { Broker } from "./broker.js";
import type { Message } from "./types.js";

/** A page broker, with or without the bridge. */
export type Host = Pick<Broker, "subscribe" | "publish">;

/** Answers `msg` on its response topic, if it has one (`call` gives it one). */
export function reply(host: Host, msg: Message, value: unknown): void {
  const to = msg.properties.response_topic;
  if (typeof to === "string") void host.publish(to, value).catch(() => {});
}

/** Publishes `value` retained on `topic`; a model's state is what a new subscriber gets first. */
export function keep(host: Host, topic: string, value: unknown): void {
  void host.publish(topic, value, { retain: true }).catch(() => {});
}

/** Publishes an event; a topic the broker refuses (a key with `+` or `#`) is skipped. */
export function announce(host: Host, topic: string, value: unknown): void {
  void host.publish(topic, value).catch(() => {});
}

/** Name/value pairs as an object; a name given more than once gets an array, in order. */
export function byName(pairs: Iterable<[string, string]>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of pairs) {
    const had = out[name];
    out[name] = had === undefined ? value : Array.isArray(had) ? [...had, value] : [had, value];
  }
  return out;
}

/** Undoes a model: removes its listeners and ends its subscriptions. */
export type Stop = () => void;

/** Adds `listener` for `type` on `target`; returns what removes it. */
export function listen(target: EventTarget, type: string, listener: (e: Event) => void): Stop {
  target.addEventListener(type, listener);
  return () => target.removeEventListener(type, listener);
}
