/**
 * Loading the WebAssembly module, once per page. In a browser it starts by itself when the
 * package is imported; elsewhere (Node, tests) `load(bytes)` must be called first.
 */
import init, { initSync } from "../wasm/pubzub.js";
import { PubzubError } from "./errors.js";

let started = false;
let done = false;
let resolveLoaded: () => void;
let rejectLoaded: (e: unknown) => void;
const loaded = new Promise<void>((resolve, reject) => {
  resolveLoaded = resolve;
  rejectLoaded = reject;
});

/**
 * Loads the WebAssembly module. In a browser call it without arguments (the module is fetched
 * next to this file, which bundlers such as Vite handle); elsewhere pass the module's bytes.
 * Later calls return the same Promise.
 */
export function load(wasm?: BufferSource | WebAssembly.Module): Promise<void> {
  if (!started) {
    started = true;
    try {
      if (wasm !== undefined) {
        initSync({ module: wasm });
        done = true;
        resolveLoaded();
      } else {
        init().then(() => {
          done = true;
          resolveLoaded();
        }, rejectLoaded);
      }
    } catch (e) {
      rejectLoaded(e);
    }
  }
  return loaded;
}

/** Resolves when the module is loaded; starts loading it in a browser. */
export function moduleReady(): Promise<void> {
  if (!started && typeof document !== "undefined") void load();
  return loaded;
}

/** Throws a clear error where a synchronous call needs the module and it is not there yet. */
export function assertLoaded(what: string): void {
  if (!done) throw new PubzubError(`${what} needs the WebAssembly module: await pubzub.ready first`);
}
