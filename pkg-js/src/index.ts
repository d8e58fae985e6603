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
import init, { Bridge, Engine, initSync, topicMatches as wasmTopicMatches, version as wasmVersion } from "../wasm/pubzub.js";
import { Loader } from "./load.js";
import { type BridgedRuntime, Pubzub as Bridged } from "./pubzub.js";
import type { CreateOptions } from "./types.js";

export { Subscription } from "./subscription.js";
export { STATUS_TOPIC } from "./pubzub.js";
export {
  PubzubError,
  ServerError,
  ConnectError,
  NotConnectedError,
  TimeoutError,
  QueueFullError,
} from "./errors.js";
export type * from "./types.js";

const loader = new Loader<BridgedRuntime>(init, initSync, (memory) => ({
  Engine,
  Bridge: Bridge as unknown as BridgedRuntime["Bridge"],
  memory,
}));

/**
 * Loads the WebAssembly module. In a browser call it without arguments (the module is fetched
 * next to this file, which bundlers such as Vite handle; importing the package starts it);
 * elsewhere pass the module's bytes. Later calls return the same Promise.
 */
export function load(wasm?: BufferSource | WebAssembly.Module): Promise<void> {
  return loader.load(wasm);
}

/** A page broker with its bridge to the server. The default export is one. */
export class Pubzub extends Bridged {
  constructor(options: CreateOptions = {}) {
    super(options, loader.ready());
  }
}

/** The page's broker, ready to use: calls made before the module has loaded are queued. */
const pubzub: Pubzub = new Pubzub();
export default pubzub;

/** An isolated page broker (for tests, micro-frontends). */
export function createPubzub(options: CreateOptions = {}): Pubzub {
  return new Pubzub(options);
}

/**
 * Whether `topic` matches `pattern` (MQTT wildcards, optionally named: `truck/+id/#rest`).
 * Needs the loaded module (`await pubzub.ready`). Throws a `PubzubError` for an invalid
 * pattern.
 *
 * @example
 * topicMatches("a/b/#", "a/b"); // true: `#` also matches the parent level
 */
export function topicMatches(pattern: string, topic: string): boolean {
  return loader.call("topicMatches", () => wasmTopicMatches(pattern, topic));
}

/** The version of the WebAssembly module. */
export function version(): string {
  return loader.call("version", wasmVersion);
}
