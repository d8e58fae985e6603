/**
 * `Pubzub`: the page broker with its bridge to the page's server. Topics under
 * `bridge/origin/` go to the server and come from it; the wasm `Bridge` runs the MQTT session
 * and the WebSocket, and this layer turns its answers into settled Promises and local
 * deliveries.
 */
import { Broker, type Runtime, qosOf } from "./broker.js";
import { type Subscription, isRemote, settleReady } from "./subscription.js";
import { PubzubError, toPubzubError } from "./errors.js";
import { decode, encode } from "./payload.js";
import type {
  ConnectOptions,
  CreateOptions,
  Granted,
  LastwillOptions,
  Message,
  PublishOptions,
  QoS,
  ReceivedProperties,
  Status,
} from "./types.js";

/** The local topic on which the bridge keeps its status. */
export const STATUS_TOPIC = "$bridge/origin/status";

/** The wasm bridge's calls (src/bridge/mod.rs). */
export interface Bridge {
  connect(options: ConnectOptions): Promise<Status>;
  disconnect(): void;
  status(): Status;
  publish(
    topic: string,
    payload: Uint8Array,
    contentType: string | undefined,
    qos: number,
    retain: boolean,
    properties: unknown,
    resolve: () => void,
    reject: (e: unknown) => void,
  ): void;
  subscribe(sub: number, patterns: string[], qos: number, done: (error: unknown, granted?: Granted) => void): void;
  unsubscribe(sub: number): void;
  lastwill(
    topic: string,
    payload: Uint8Array,
    contentType: string | undefined,
    qos: number,
    retain: boolean,
    properties: unknown,
    delay: number,
    done: (error?: unknown) => void,
  ): number;
  removeLastwill(id: number): boolean;
}

/** What the bridge calls back (`Hooks` in src/bridge/mod.rs). */
export interface Hooks {
  message(topic: string, payload: Uint8Array, qos: number, retain: boolean, properties: ReceivedProperties): void;
  status(status: Status): void;
  refused(sub: number): void;
}

export interface BridgedRuntime extends Runtime {
  Bridge: new (hooks: Hooks) => Bridge;
}


/** Brokers that want a connection: kept alive by it, until `disconnect()`. */
const connectedBrokers = new Set<Pubzub>();

/** A page broker. The package's default export is one; `createPubzub()` makes more. */
export class Pubzub extends Broker {
  #bridge: Bridge | undefined;
  /** Subscriptions with server patterns, by id: the bridge names them when it refuses one. */
  #remote = new Map<number, Subscription>();

  constructor(options: CreateOptions, loaded: Promise<BridgedRuntime>) {
    super(options, loaded);
  }

  protected override started(runtime: Runtime): void {
    // The wasm bridge holds its hooks for good; through a WeakRef they do not keep the broker
    // alive (a broker nobody holds goes, and its bridge with it, unless it is connected).
    const self = new WeakRef(this);
    const hooks: Hooks = {
      message(topic, payload, qos, retain, properties) {
        const b = self.deref();
        if (b) b.#received(topic, payload, qos, retain, properties);
      },
      status: (status) => self.deref()?.deliver(STATUS_TOPIC, status, 0, true, undefined, false),
      refused(id) {
        const b = self.deref();
        if (b) b.#refusedById(id);
      },
    };
    this.#bridge = new (runtime as BridgedRuntime).Bridge(hooks);
  }

  /** A message from the server, delivered locally; `payload` is a view into wasm memory. */
  #received(topic: string, payload: Uint8Array, qos: number, retain: boolean, properties: ReceivedProperties): void {
    const value = decode(payload, properties.content_type); // a copy
    this.deliver(topic, value, qos as QoS, retain, Object.freeze(properties), true);
  }

  #refusedById(id: number): void {
    const sub = this.#remote.get(id);
    this.#remote.delete(id);
    if (sub !== undefined) this.refused(sub);
  }

  protected override made(sub: Subscription, qos: QoS): void {
    if (!sub.patterns.some(isRemote)) return;
    const id = sub.id as number;
    const onReady = (error: unknown, granted?: Granted) => {
      if (error && (error as Error).name !== "NotConnectedError") {
        // Refused by the server: the bridge has forgotten it.
        this.#remote.delete(id);
        this.refused(sub);
      }
      settleReady(sub, error, granted);
    };
    (this.#bridge as Bridge).subscribe(id, [...sub.patterns], qos, onReady);
    this.#remote.set(id, sub);
  }

  protected override ended(sub: Subscription): void {
    if (this.#remote.delete(sub.id as number)) (this.#bridge as Bridge).unsubscribe(sub.id as number);
  }

  protected override remote(topic: string, payload: unknown, options: PublishOptions | undefined): Promise<void> {
    const qos = qosOf(options);
    const [bytes, contentType] = encode(payload, topic);
    const bridge = this.#bridge as Bridge;
    const sent = new Promise<void>((resolve, reject) => {
      bridge.publish(topic, bytes, contentType, qos, options?.retain === true, options?.properties, resolve, reject);
    });
    return sent.catch((e: unknown) => Promise.reject(toPubzubError(e)));
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
    return this.run(() => {
      if (!isRemote(topic)) {
        throw new PubzubError("a lastwill goes to the server: its topic starts with bridge/origin/");
      }
      const qos = qosOf(options);
      const [bytes, contentType] = encode(payload, topic);
      const delay = Math.trunc(Math.min(Math.max(Number(options.delay ?? 0) || 0, 0), 0xffffffff));
      const bridge = this.#bridge as Bridge;
      return new Promise<number>((resolve, reject) => {
        const id = bridge.lastwill(topic, bytes, contentType, qos, options.retain === true, options.properties, delay, (error) =>
          error ? reject(error) : resolve(id),
        );
      });
    });
  }

  /** Removes a will; resolves false if there was none with this id. */
  removeLastwill(id: number): Promise<boolean> {
    return this.run(() => (this.#bridge as Bridge).removeLastwill(id));
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
    const start = () => {
      const started = (this.#bridge as Bridge).connect(options);
      connectedBrokers.add(this);
      return started;
    };
    if (this.loaded) {
      let started: Promise<Status>;
      try {
        started = start();
      } catch (e) {
        throw toPubzubError(e);
      }
      return started.catch((e: unknown) => Promise.reject(toPubzubError(e)));
    }
    return this.run(start);
  }

  /**
   * Closes the connection to the server (DISCONNECT 0x00: no will fires); no reconnecting
   * until the next `connect`. Publications not yet acknowledged reject with a
   * `NotConnectedError`, and so do publications to the server until the next `connect`.
   */
  disconnect(): Promise<void> {
    connectedBrokers.delete(this);
    return this.run(() => (this.#bridge as Bridge).disconnect());
  }

  /** The bridge's status now. */
  status(): Promise<Status> {
    return this.run(() => (this.#bridge as Bridge).status());
  }

  /**
   * `on("status", cb)`: `cb(status)` now (once known) and on every change of the bridge.
   * `on("error", cb)`: `cb(error, message)` when a subscriber throws (it is also logged).
   * Returns a function that removes the listener.
   */
  override on(event: "status", listener: (status: Status) => void): () => void;
  override on(event: "error", listener: (error: unknown, message: Message) => void): () => void;
  override on(event: string, listener: (...args: never[]) => void): () => void {
    if (event !== "status") return super.on(event as "error", listener as never);
    const onStatus = listener as (status: Status) => void;
    const sub = this.subscribe(STATUS_TOPIC, (msg) => onStatus(msg.payload as Status));
    return () => sub.unsubscribe();
  }
}
