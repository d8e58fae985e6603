/**
 * `Pubzub`: the page broker of the wasm module behind a typed API that can be used at once:
 * calls made before the module has loaded wait in a queue and run in order.
 */
import { PageBroker } from "../wasm/pubzub.js";
import { PubzubError, toPubzubError } from "./errors.js";
import { moduleReady } from "./load.js";
import type {
  Callback,
  CallOptions,
  ConnectOptions,
  CreateOptions,
  Granted,
  LastwillOptions,
  Match,
  Message,
  PublishOptions,
  Status,
  SubscribeOptions,
} from "./types.js";

/** The local topic on which the bridge keeps its status. */
export const STATUS_TOPIC = "$bridge/origin/status";

/**
 * The `ready` Promises of subscriptions whose answer is not known when they are made (server
 * patterns, or any before the module loaded), and how to settle them. A local subscription
 * made on the loaded module has no entry: its `ready` is made when first read, so that
 * thousands of subscriptions cost no Promise each.
 */
const readies = new WeakMap<Subscription, Promise<Granted>>();
const settlers = new WeakMap<Subscription, (error: unknown, granted?: Granted) => void>();

/** Gives `sub` a pending `ready`. */
function awaitAnswer(sub: Subscription): void {
  const ready = new Promise<Granted>((resolve, reject) => {
    settlers.set(sub, (error, granted) => (error ? reject(toPubzubError(error)) : resolve(granted ?? [])));
  });
  ready.catch(() => {}); // whoever awaits it sees a rejection; nobody else needs one
  readies.set(sub, ready);
}

/** Settles a pending `ready` with `error`, or with the granted QoS. */
function settleReady(sub: Subscription, error: unknown, granted?: Granted): void {
  const settle = settlers.get(sub);
  settlers.delete(sub);
  settle?.(error, granted);
}

/** What `subscribe` returns: pass it to `unsubscribe`, or call its `unsubscribe()`. */
export class Subscription<P extends string = string> {
  /** The broker's id for it, once it is made. */
  id: number | undefined;
  cancelled = false;
  #ready: Promise<Granted> | undefined;

  constructor(
    /** The patterns subscribed to. */
    readonly patterns: readonly P[],
    private readonly owner: Pubzub,
  ) {}

  /**
   * Resolves when the subscription is in place, with the QoS the server granted per pattern
   * (`null` for local patterns; at once when all are local). Rejects with a `ServerError`
   * when the server refuses a `bridge/origin/...` pattern (the subscription is then gone,
   * every pattern of it), with a `NotConnectedError` when `disconnect()` came first (the
   * subscription stays and is made on the next `connect()`), or with a `PubzubError` for an
   * invalid pattern given before the module loaded. A rejection nobody awaits is not
   * reported as unhandled.
   */
  get ready(): Promise<Granted> {
    return (this.#ready ??= readies.get(this) ?? Promise.resolve(this.patterns.map(() => null)));
  }

  /** Same as `pubzub.unsubscribe(this)`. */
  unsubscribe(): boolean {
    return this.owner.unsubscribe(this);
  }
}

type Task = { run: (broker: PageBroker) => void; fail: (e: unknown) => void };
type ErrorHook = (error: unknown, message: Message) => void;

/** A page broker. The package's default export is one; `createPubzub()` makes more. */
export class Pubzub {
  /** Resolves when the wasm module is loaded and queued calls have run. */
  readonly ready: Promise<void>;
  #broker: PageBroker | undefined;
  #queue: Task[] = [];
  #errorHooks = new Set<ErrorHook>();
  #subscriptions = new Set<Subscription>();
  #failure: unknown;

  constructor(options: CreateOptions = {}) {
    this.ready = moduleReady()
      .then(() => {
        const broker = new PageBroker(options);
        broker.onError((error: unknown, message: Message) => {
          for (const hook of this.#errorHooks) hook(error, message);
        });
        this.#broker = broker;
        for (const task of this.#queue.splice(0)) task.run(broker);
      })
      .catch((e: unknown) => {
        // The module did not load, or the broker could not be made (a corrupt `persist`
        // entry): every call, queued or later, fails with this error.
        this.#failure = toPubzubError(e);
        for (const task of this.#queue.splice(0)) task.fail(this.#failure);
        throw this.#failure;
      });
    // Whoever awaits `ready` sees a failure; nobody else needs an unhandled rejection.
    this.ready.catch(() => {});
  }

  /** Runs `task` on the broker now or, before the module has loaded, when it has. */
  #run<R>(task: (broker: PageBroker) => R): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const run = (broker: PageBroker) => {
        try {
          resolve(task(broker));
        } catch (e) {
          reject(toPubzubError(e));
        }
      };
      if (this.#broker) run(this.#broker);
      else if (this.#failure !== undefined) reject(this.#failure);
      else this.#queue.push({ run, fail: reject });
    });
  }

  /**
   * `#run` for a task whose result may be a Promise from the module: waits for that too, and
   * turns its rejection into a `PubzubError`.
   */
  async #settle<R>(task: (broker: PageBroker) => R): Promise<Awaited<R>> {
    try {
      return await this.#run(task);
    } catch (e) {
      throw toPubzubError(e);
    }
  }

  /**
   * Calls `callback(message, bindings, {topic})` for every message published on a topic that
   * matches `pattern` (or one of several patterns). Named wildcards bind levels: `+id` a
   * string, `#rest` the remaining levels. Patterns under `bridge/origin/` subscribe on the
   * server too. Throws a `PubzubError` for an invalid pattern once the module is loaded;
   * before, `subscription.ready` rejects.
   *
   * @example
   * const sub = pubzub.subscribe("truck/+id/temperature", (msg, { id }) => {
   *   console.log(`truck ${id}: ${msg.payload} °C`);
   * });
   * sub.unsubscribe();
   */
  subscribe<const P extends string, T = unknown>(
    pattern: P | readonly P[],
    callback: Callback<P, T>,
    options: SubscribeOptions = {},
  ): Subscription<P> {
    const patterns: P[] = typeof pattern === "string" ? [pattern] : [...pattern];
    const sub = new Subscription<P>(patterns, this);
    this.#subscriptions.add(sub);
    const remote = patterns.some((p) => p.startsWith("bridge/origin/"));
    if (remote || !this.#broker) awaitAnswer(sub);
    const onReady = (error: unknown, granted?: Granted) => {
      if (error && (error as Error).name !== "NotConnectedError") {
        // Refused by the server: the broker has removed it.
        sub.cancelled = true;
        this.#subscriptions.delete(sub);
      }
      settleReady(sub, error, granted);
    };
    const make = (broker: PageBroker) => {
      if (sub.cancelled) {
        settleReady(sub, new PubzubError("unsubscribed before it was made"));
      } else if (remote) {
        sub.id = broker.subscribe(patterns, callback, options, onReady);
      } else {
        sub.id = broker.subscribe(patterns, callback, options);
        settleReady(sub, undefined, patterns.map(() => null));
      }
    };
    if (this.#broker) {
      try {
        make(this.#broker);
      } catch (e) {
        this.#subscriptions.delete(sub);
        throw toPubzubError(e);
      }
    } else {
      this.#run(make).catch((e: unknown) => {
        this.#subscriptions.delete(sub);
        console.error("pubzub: subscribe failed", e);
        settleReady(sub, e);
      });
    }
    return sub;
  }

  /** Ends a subscription; false if it had already ended. */
  unsubscribe(subscription: Subscription): boolean {
    if (subscription.cancelled) return false;
    subscription.cancelled = true;
    this.#subscriptions.delete(subscription);
    const id = subscription.id;
    return id === undefined || (this.#broker?.unsubscribe(id) ?? false);
  }

  /**
   * Publishes `payload`, any JS value, to `topic`. Local subscribers get the value itself;
   * for `bridge/origin/...` topics it goes to the server (typed by content type) and the
   * Promise resolves when the server has it (QoS 1, 2) or it was sent (QoS 0); it rejects
   * with a `ServerError` carrying the reason code when the server refuses it.
   *
   * @example
   * await pubzub.publish("bridge/origin/public/chat/lobby", { from: "ann", text: "hi" }, { qos: 1 });
   */
  async publish(topic: string, payload?: unknown, options: PublishOptions = {}): Promise<void> {
    // A count for local topics, a Promise of the server's answer for bridge/origin/ ones.
    await this.#settle((broker) => broker.publish(topic, payload, options));
  }

  /**
   * Publishes a request with a fresh response topic and resolves with the first reply;
   * rejects with a `TimeoutError` after `options.timeout` ms (15 s by default), or with a
   * `ServerError` when the server refuses the request (sent at QoS 1 unless `options.qos`
   * says otherwise). Works for responders in the page and, through `bridge/origin/...`, on
   * the server.
   *
   * @example
   * const reply = await pubzub.call("bridge/origin/rpc/time", null, { timeout: 2000 });
   */
  call<T = unknown>(topic: string, payload?: unknown, options: CallOptions = {}): Promise<Message<T>> {
    return this.#settle((broker) => broker.call(topic, payload, options) as Promise<Message<T>>);
  }

  /**
   * Registers a will on the server: `payload` is published on `topic` (`bridge/origin/...`)
   * when this page goes away without saying goodbye (closed tab, lost network; with
   * `options.delay`, only if it is not back within that many seconds). Resolves with the
   * will's id for `removeLastwill` once the server has registered it (after `connect()`);
   * rejects with a `ServerError` when the server refuses it (e.g. 0x87 for a topic this page
   * may not publish on; the will is then gone), or with a `NotConnectedError` after
   * `disconnect()` (the will stays and is registered on the next `connect()`).
   *
   * @example
   * await pubzub.lastwill(`bridge/origin/public/presence/${me}`, "", { retain: true });
   */
  lastwill(topic: string, payload?: unknown, options: LastwillOptions = {}): Promise<number> {
    return this.#settle(
      (broker) =>
        new Promise<number>((resolve, reject) => {
          const id: number = broker.lastwill(topic, payload, options, (error: unknown) =>
            error ? reject(error) : resolve(id),
          );
        }),
    );
  }

  /** Removes a will; resolves false if there was none with this id. */
  removeLastwill(id: number): Promise<boolean> {
    return this.#run((broker) => broker.removeLastwill(id));
  }

  /**
   * Connects to the origin server (and reconnects when the connection is lost). Resolves
   * with the status once connected. Rejects with a `ConnectError`: when the server refuses
   * the login (`reasonCode` 0x86, 0x87...; no more retries), after `connectTimeout` ms
   * without a connection (retries go on; `status().last_error` says why), or where there is
   * no WebSocket (Node before 22). Throws a `PubzubError` at once for a url that is not
   * ws:/wss: (once the module is loaded; before, the Promise rejects).
   */
  connect(options: ConnectOptions = {}): Promise<Status> {
    if (this.#broker) {
      let started: Promise<Status>;
      try {
        started = this.#broker.connect(options) as Promise<Status>;
      } catch (e) {
        throw toPubzubError(e);
      }
      return started.catch((e: unknown) => Promise.reject(toPubzubError(e)));
    }
    return this.#settle((broker) => broker.connect(options) as Promise<Status>);
  }

  /**
   * Closes the connection to the server (DISCONNECT 0x00: no will fires); no reconnecting
   * until the next `connect`. Publications not yet acknowledged reject with a
   * `NotConnectedError`, and so do publications to the server until the next `connect`.
   */
  disconnect(): Promise<void> {
    return this.#run((broker) => broker.disconnect());
  }

  /** The bridge's status now. */
  status(): Promise<Status> {
    return this.#run((broker) => broker.status() as Status);
  }

  /** The subscriptions made on this broker and not ended, oldest first (for tools). */
  subscriptions(): Subscription[] {
    return [...this.#subscriptions];
  }

  /** The subscriptions `topic` would reach (for tools and tests). */
  match(topic: string): Promise<Match[]> {
    return this.#run((broker) => broker.match(topic) as Match[]);
  }

  /** Saves the retained messages to sessionStorage now (made with the `persist` option). */
  persist(): Promise<void> {
    return this.#run((broker) => broker.persist());
  }

  /**
   * `on("status", cb)`: `cb(status)` now (once known) and on every change of the bridge.
   * `on("error", cb)`: `cb(error, message)` when a subscriber throws (it is also logged).
   * Returns a function that removes the listener.
   */
  on(event: "status", listener: (status: Status) => void): () => void;
  on(event: "error", listener: ErrorHook): () => void;
  on(event: "status" | "error", listener: ((status: Status) => void) | ErrorHook): () => void {
    if (event === "error") {
      const hook = listener as ErrorHook;
      this.#errorHooks.add(hook);
      return () => this.#errorHooks.delete(hook);
    }
    if (event !== "status") throw new PubzubError(`unknown event "${String(event)}"`);
    const onStatus = listener as (status: Status) => void;
    const sub = this.subscribe(STATUS_TOPIC, (msg) => onStatus(msg.payload as Status));
    return () => sub.unsubscribe();
  }
}

/** An isolated page broker (for tests, micro-frontends). */
export function createPubzub(options: CreateOptions = {}): Pubzub {
  return new Pubzub(options);
}
