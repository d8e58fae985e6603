/**
 * Loading a WebAssembly module of the package, once per page. In a browser it starts by
 * itself when the package is used; elsewhere (Node, tests) `load(bytes)` must be called first.
 */
import { PubzubError, toPubzubError } from "./errors.js";

type Input = BufferSource | WebAssembly.Module;

/** One build's loader: `pubzub` and `pubzub/local` each have their own module. */
export class Loader<R> {
  #started = false;
  #done = false;
  #resolve!: (runtime: R) => void;
  #reject!: (e: unknown) => void;
  /** Resolves with the module's runtime once loaded. */
  readonly loaded = new Promise<R>((resolve, reject) => {
    this.#resolve = resolve;
    this.#reject = reject;
  });

  constructor(
    private readonly init: () => Promise<object>,
    private readonly initSync: (input: { module: Input }) => object,
    /** The runtime from the module's exports, given its memory. */
    private readonly runtime: (memory: WebAssembly.Memory) => R,
  ) {
    this.loaded.catch(() => {}); // whoever waits for it sees the failure
  }

  /**
   * Loads the module. In a browser call it without arguments (the module is fetched next to
   * this file, which bundlers such as Vite handle); elsewhere pass the module's bytes. Later
   * calls return the same Promise.
   */
  load(wasm?: Input): Promise<void> {
    if (!this.#started) {
      this.#started = true;
      try {
        if (wasm !== undefined) this.#ready(this.initSync({ module: wasm }));
        else this.init().then((out) => this.#ready(out)).catch(this.#reject);
      } catch (e) {
        this.#reject(e);
      }
    }
    return this.loaded.then(() => {});
  }

  #ready(exports: object): void {
    // wasm-bindgen's exports have short names in this build; the memory is the one Memory.
    const memory = Object.values(exports).find((v) => v instanceof WebAssembly.Memory);
    if (!(memory instanceof WebAssembly.Memory)) throw new PubzubError("the WebAssembly module exports no memory");
    this.#done = true;
    this.#resolve(this.runtime(memory));
  }

  /** Resolves when the module is loaded; starts loading it in a browser. */
  ready(): Promise<R> {
    if (!this.#started && typeof document !== "undefined") void this.load();
    return this.loaded;
  }

  /**
   * Runs `f`, a synchronous call of the module: a clear error when the module is not there
   * yet, and the module's errors as `PubzubError`s.
   */
  call<T>(what: string, f: () => T): T {
    if (!this.#done) throw new PubzubError(`${what} needs the WebAssembly module: await pubzub.ready first`);
    try {
      return f();
    } catch (e) {
      throw toPubzubError(e);
    }
  }
}
