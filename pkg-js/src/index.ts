/**
 * pubzub: an MQTT-style broker in every web page, relaying `bridge/origin/...` topics to the
 * page's server.
 *
 * @example
 * import pubzub from "pubzub";
 *
 * pubzub.subscribe("truck/+id/#rest", (msg, { id, rest }) => console.log(id, rest, msg.payload));
 * pubzub.publish("truck/7/engine/temp", 88);
 * await pubzub.connect(); // ws(s)://<this host>/mqtt-transport
 * pubzub.publish("bridge/origin/public/hello", "from a page");
 */
import { topicMatches as wasmTopicMatches, version as wasmVersion } from "../wasm/pubzub.js";
import { Pubzub } from "./broker.js";
import { toPubzubError } from "./errors.js";
import { assertLoaded } from "./load.js";

export { Pubzub, Subscription, createPubzub, STATUS_TOPIC } from "./broker.js";
export {
  PubzubError,
  ServerError,
  ConnectError,
  NotConnectedError,
  TimeoutError,
  QueueFullError,
} from "./errors.js";
export { load } from "./load.js";
export type * from "./types.js";

/** The page's broker, ready to use: calls made before the module has loaded are queued. */
const pubzub: Pubzub = new Pubzub();
export default pubzub;

/**
 * Whether `topic` matches `pattern` (MQTT wildcards, optionally named: `truck/+id/#rest`).
 * Needs the loaded module (`await pubzub.ready`). Throws a `PubzubError` for an invalid
 * pattern.
 *
 * @example
 * topicMatches("a/b/#", "a/b"); // true: `#` also matches the parent level
 */
export function topicMatches(pattern: string, topic: string): boolean {
  assertLoaded("topicMatches");
  try {
    return wasmTopicMatches(pattern, topic);
  } catch (e) {
    throw toPubzubError(e);
  }
}

/** The version of the WebAssembly module. */
export function version(): string {
  assertLoaded("version");
  return wasmVersion();
}
