/**
 * pubzub: an MQTT-style broker in every web page.
 *
 * This is the package's first layer: it loads the WebAssembly module and exposes the topic
 * matcher the page broker is built on. `subscribe`, `publish` and the bridge to the server
 * arrive with the page broker.
 */
import init, { initSync, topicMatches as wasmTopicMatches, version as wasmVersion } from "../wasm/pubzub.js";

let loaded: Promise<void> | undefined;

/**
 * Loads the WebAssembly module. In a browser call it without arguments (the module is fetched
 * next to this file); elsewhere pass the module's bytes.
 */
export function load(wasm?: BufferSource | WebAssembly.Module): Promise<void> {
  if (wasm !== undefined) {
    initSync({ module: wasm });
    loaded = Promise.resolve();
  }
  loaded ??= init().then(() => undefined);
  return loaded;
}

/**
 * Whether `topic` matches `pattern`. Patterns use MQTT wildcards, optionally named:
 * `truck/+id/#rest` matches `truck/7/temp`. Throws an `Error` for an invalid pattern.
 *
 * @example
 * topicMatches("a/b/#", "a/b") // true: `#` also matches the parent level
 */
export function topicMatches(pattern: string, topic: string): boolean {
  return wasmTopicMatches(pattern, topic);
}

/**
 * The page broker as the WebAssembly module exports it: `subscribe(filters, callback,
 * options)`, `publish(topic, payload, options)`, `unsubscribe(id)`, `match(topic)`, `call`,
 * `connect`, `lastwill`... The typed, friendlier API of the package is built on it.
 */
export { PageBroker } from "../wasm/pubzub.js";

/** The version of the WebAssembly module. */
export function version(): string {
  return wasmVersion();
}
