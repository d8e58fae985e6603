/**
 * `pubzub/local`: the page broker without the bridge to a server, for pages that only
 * publish and subscribe among their own components. Its module has no MQTT client session,
 * no codec and no WebSocket, and is the smaller for it; the API is `pubzub`'s, less
 * `connect`, `lastwill` and the `bridge/origin/...` topics.
 *
 * @example
 * import pubzub from "pubzub/local";
 *
 * pubzub.subscribe("cart/+item", (msg, { item }) => console.log(item, msg.payload));
 * pubzub.publish("cart/apple", 3);
 */
import init, { Engine, initSync, topicMatches as wasmTopicMatches, version as wasmVersion } from "../wasm-local/pubzub.js";
import { Broker, type Runtime } from "./broker.js";
import { Loader } from "./load.js";
import type { CreateOptions } from "./types.js";

export { Subscription } from "./subscription.js";
export { PubzubError, TimeoutError } from "./errors.js";
export type * from "./types.js";

const loader = new Loader<Runtime>(init, initSync, (memory) => ({ Engine, memory }));

/** Loads the WebAssembly module; see `load` in `pubzub`. */
export function load(wasm?: BufferSource | WebAssembly.Module): Promise<void> {
  return loader.load(wasm);
}

/** A page broker without a bridge. The default export is one. */
export class Pubzub extends Broker {
  constructor(options: CreateOptions = {}) {
    super(options, loader.ready());
  }
}

/** The page's broker, ready to use: calls made before the module has loaded are queued. */
const pubzub: Pubzub = new Pubzub();
export default pubzub;

/** An isolated page broker. */
export function createPubzub(options: CreateOptions = {}): Pubzub {
  return new Pubzub(options);
}

/** Whether `topic` matches `pattern`; see `topicMatches` in `pubzub`. */
export function topicMatches(pattern: string, topic: string): boolean {
  return loader.call("topicMatches", () => wasmTopicMatches(pattern, topic));
}

/** The version of the WebAssembly module. */
export function version(): string {
  return loader.call("version", wasmVersion);
}
