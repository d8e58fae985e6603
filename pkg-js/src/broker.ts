/**
 * `Broker`: local publish/subscribe, the JavaScript half of the page broker. The wasm
 * `Engine` decides (topics, patterns, the tree, share groups, bindings, retained topics);
 * this layer holds what is JavaScript: callbacks, message objects, bindings objects and
 * promises, under the ids the engine hands out. A publish crosses into wasm at most once,
 * and not at all for a topic seen before: its matches are cached per topic, and every
 * subscribe and unsubscribe that could change a cached answer removes it.
 *
 * Calls made before the module has loaded wait in a queue and run in order.
 */
import { type Bound, EMPTY, Entries, type Info } from "./entries.js";
import { PubzubError, TimeoutError, toPubzubError } from "./errors.js";
import { isEmpty } from "./payload.js";
import * as persist from "./persist.js";
import { PREFIX, Subscription, awaitAnswer, isRemote, settleReady } from "./subscription.js";
import type { Callback, CallOptions, CreateOptions, Match, Message, Properties, PublishOptions, QoS, SubscribeOptions } from "./types.js";

export { PREFIX };

/** What the broker needs of a loaded wasm module (both builds have it). */
export interface Runtime {
  Engine: new () => Engine;
  memory: WebAssembly.Memory;
}

/**
 * The wasm engine's calls (src/local.rs). Results are read from wasm memory at the address a
 * call returns; a call that fails returns 0 (`NONE` for `retain`) and `error()` says why.
 */
export interface Engine {
  subscribe(pattern: string, retained: boolean): number;
  unsubscribe(entry: number): boolean;
  match(topic: string, take_turns: boolean): number;
  retain(topic: string): number;
  clearRetained(topic: string): number;
  retainedIds(): number;
  error(): string;
}

/** The engine's "no id". */
const NONE = 0xffffffff;
/** A `subscribe` flag: the pattern matches one topic only. */
const EXACT = 1;
/** Topics whose matches are kept (about 50 bytes each, more with many matches); beyond, the cache starts over. */
const CACHE_LIMIT = 16_384;
/** How long `call` waits for a reply unless told otherwise. */
const CALL_TIMEOUT_MS = 15_000;

const DONE: Promise<void> = Promise.resolve();

/** What a topic reaches: entry id, its info and the bindings, in threes. */
type Targets = (number | Info | Bound)[];
type ErrorHook = (error: unknown, message: Message) => void;

function integer(options: object | undefined, key: string, max: number, fallback: number): number {
  const v = (options as Record<string, unknown> | undefined)?.[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > max) {
    throw new PubzubError(`${key} must be an integer from 0 to ${max}`);
  }
  return v;
}

/** The `qos` option: 0 when not given; a `PubzubError` unless 0, 1 or 2. */
export function qosOf(options: object | undefined): QoS {
  return integer(options, "qos", 2, 0) as QoS;
}

/** The message every subscriber of one publication shares: frozen, the payload as is. */
export function message(
  topic: string,
  payload: unknown,
  qos: QoS,
  retain: boolean,
  properties: Readonly<Properties> | undefined,
): Message {
  return Object.freeze({ type: "publish", topic, payload, qos, retain, properties: properties ?? EMPTY });
}

/** The publisher's properties as a frozen copy (theirs stays theirs), or `undefined`. */
function ownProperties(properties: unknown): Readonly<Properties> | undefined {
  return typeof properties === "object" && properties !== null ? Object.freeze({ ...properties }) : undefined;
}

/** A page broker without a bridge: what `pubzub/local` exports. `Pubzub` adds the bridge. */
export class Broker {
  /** Resolves when the wasm module is loaded and queued calls have run. */
  readonly ready: Promise<void>;
  #engine: Engine | undefined;
  #memory: WebAssembly.Memory | undefined;
  #view = new Uint32Array(0);
  #queue: { run: () => void; fail: (e: unknown) => void }[] = [];
  #failure: unknown;
  #entries = new Entries();
  /** Retained messages by engine id. */
  #kept: (Message | undefined)[] = [];
  #cache = new Map<string, Targets>();
  /** Subscriptions waiting for the module, in order. */
  #pending: Subscription[] = [];
  #errorHooks = new Set<ErrorHook>();
  #nextCall = 0;

  constructor(options: CreateOptions, loaded: Promise<Runtime>) {
    this.ready = loaded
      .then((runtime) => {
        this.#engine = new runtime.Engine();
        this.#memory = runtime.memory;
        this.started(runtime);
        if (options.persist !== undefined) persist.restore(this, options.persist);
        for (const task of this.#queue.splice(0)) task.run();
      })
      .catch((e: unknown) => {
        // The module did not load, or the broker could not be made (a corrupt `persist`
        // entry): every call, queued or later, fails with this error.
        this.#engine = undefined;
        this.#failure = toPubzubError(e);
        for (const task of this.#queue.splice(0)) task.fail(this.#failure);
        throw this.#failure;
      });
    // Whoever awaits `ready` sees a failure; nobody else needs an unhandled rejection.
    this.ready.catch(() => {});
  }

  /** Runs `task` now or, before the module has loaded, when it has. */
  protected run<R>(task: () => R): Promise<Awaited<R>> {
    return new Promise<Awaited<R>>((resolve, reject) => {
      const run = () => {
        try {
          Promise.resolve(task()).then(resolve, (e: unknown) => reject(toPubzubError(e)));
        } catch (e) {
          reject(toPubzubError(e));
        }
      };
      if (this.#engine) run();
      else if (this.#failure !== undefined) reject(this.#failure);
      else this.#queue.push({ run, fail: reject });
    });
  }

  /** Whether the module is loaded (calls run now). */
  protected get loaded(): boolean {
    return this.#engine !== undefined;
  }

  /** Called once the module is loaded, before queued calls run. */
  protected started(_runtime: Runtime): void {}

  /** Called when a subscription's entries are made (the bridge subscribes on the server). */
  protected made(_sub: Subscription, _qos: QoS): void {}

  /** Called when a subscription ends (the bridge unsubscribes on the server). */
  protected ended(_sub: Subscription): void {}

  /**
   * The engine's result words, read where the engine wrote them. Growing wasm memory
   * detaches the old buffer, and a view of a detached buffer has length 0.
   */
  #words(): Uint32Array {
    if (this.#view.length === 0) this.#view = new Uint32Array((this.#memory as WebAssembly.Memory).buffer);
    return this.#view;
  }

  /** The address an engine call returned; throws the engine's error for 0. */
  #at(address: number): number {
    if (address === 0) throw new PubzubError((this.#engine as Engine).error());
    return address >>> 2;
  }

  /**
   * Calls `callback(message, bindings, {topic})` for every message published on a topic that
   * matches `pattern` (or one of several patterns). Named wildcards bind levels: `+id` a
   * string, `#rest` the remaining levels; the bindings object is frozen. Patterns under
   * `bridge/origin/` subscribe on the server too. Throws a `PubzubError` for an invalid
   * pattern once the module is loaded; before, `subscription.ready` rejects.
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
    options?: SubscribeOptions,
  ): Subscription<P> {
    const given = typeof pattern === "string" || !Array.isArray(pattern) ? pattern : [...pattern];
    const sub = new Subscription<P>(given as P | P[], this);
    if (this.#engine) {
      try {
        this.#make(sub, callback as Callback<string>, options);
      } catch (e) {
        throw toPubzubError(e);
      }
      return sub;
    }
    // Before the module loaded: `ready` says how it went.
    awaitAnswer(sub);
    this.#pending.push(sub);
    const make = () => {
      this.#pending.splice(this.#pending.indexOf(sub), 1);
      if (sub.cancelled) {
        settleReady(sub, new PubzubError("unsubscribed before it was made"));
        return;
      }
      this.#make(sub, callback as Callback<string>, options);
      if (!sub.patterns.some(isRemote)) settleReady(sub, undefined, sub.patterns.map(() => null));
    };
    this.run(make).catch((e: unknown) => {
      console.error("pubzub: subscribe failed", e);
      settleReady(sub, e);
    });
    return sub;
  }

  /** Makes `sub`'s entries and delivers the retained messages they get; all or nothing. */
  #make(sub: Subscription, callback: Callback<string>, options: SubscribeOptions | undefined): void {
    const patterns = sub.patterns;
    if (!Array.isArray(patterns)) throw new PubzubError("subscribe takes a topic filter or an array of them");
    if (typeof callback !== "function") throw new PubzubError("subscribe needs a callback function");
    const handling = options === undefined ? 0 : integer(options, "retain_handling", 2, 0);
    const qos = qosOf(options);
    if (patterns.some(isRemote)) awaitAnswer(sub);
    const ids: number[] = [];
    /** Entry ids and the ids of the retained messages they get, in pairs. */
    let retained: number[] | undefined;
    try {
      for (const p of patterns) {
        if (typeof p !== "string") throw new PubzubError("a topic filter must be a string");
        const wanted = handling === 0 || (handling === 1 && !this.#entries.has(p, callback));
        retained = this.#add(sub, p, callback, wanted, ids, retained);
      }
      sub.made(ids);
      this.made(sub, qos);
    } catch (e) {
      sub.entries = ids; // to be removed, all of them
      this.#drop(sub);
      throw e;
    }
    if (retained === undefined) return;
    for (let i = 0; i < retained.length; i += 2) {
      const id = retained[i] as number;
      const msg = this.#kept[retained[i + 1] as number];
      const info = this.#entries.info[id];
      if (msg !== undefined && info !== undefined) this.#call(id, info, msg, this.#entries.bind(id, msg.topic));
    }
  }

  /**
   * Makes the entry of one pattern of `sub` and appends its id to `ids`; appends it and the
   * ids of the retained messages it gets (if `wanted`) to `retained`.
   */
  #add(
    sub: Subscription,
    pattern: string,
    callback: Callback<string>,
    wanted: boolean,
    ids: number[],
    retained: number[] | undefined,
  ): number[] | undefined {
    const at = this.#at((this.#engine as Engine).subscribe(pattern, wanted));
    const w = this.#words();
    const id = w[at] as number;
    const flags = w[at + 1] as number;
    const named = w[at + 2] as number;
    this.#entries.add(id, pattern, callback, sub, flags, w, at + 3, named);
    ids.push(id);
    const kept = at + 3 + named;
    for (let i = 0, n = w[kept] as number; i < n; i++) (retained ??= []).push(id, w[kept + 1 + i] as number);
    this.#forget(pattern, flags);
    return retained;
  }

  /**
   * Removes from the match cache every answer a subscription to `pattern` (with the engine's
   * `flags`) could change: one topic for an exact pattern, else all of them. (Answers that
   * involve a share group are never kept: whose turn it is changes with every publication.)
   */
  #forget(pattern: string, flags: number): void {
    if (this.#cache.size === 0) return;
    if (flags & EXACT) this.#cache.delete(pattern);
    else this.#cache.clear();
  }

  /** Removes a subscription's entries. */
  #drop(sub: Subscription): void {
    const engine = this.#engine as Engine;
    for (const id of sub.takeEntries()) {
      const flags = this.#entries.flags[id] as number;
      const info = this.#entries.remove(id);
      engine.unsubscribe(id);
      if (info !== undefined) this.#forget(info.topic, flags);
    }
  }

  /**
   * Ends a subscription; false if it had already ended. It gets no message from then on, not
   * even one whose delivery to other subscribers is under way.
   */
  unsubscribe(subscription: Subscription): boolean {
    if (!(subscription instanceof Subscription) || subscription.cancelled) return false;
    subscription.cancelled = true;
    if (subscription.id !== undefined) {
      this.#drop(subscription);
      this.ended(subscription);
    }
    return true;
  }

  /** A subscription the server refused: gone without a word to the server. */
  protected refused(sub: Subscription): void {
    sub.cancelled = true;
    this.#drop(sub);
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
  publish(topic: string, payload?: unknown, options?: PublishOptions): Promise<void> {
    if (!this.#engine) return this.run(() => this.publish(topic, payload, options));
    try {
      if (typeof topic !== "string") throw new PubzubError("publish takes a topic string");
      if (topic.startsWith(PREFIX)) return this.remote(topic, payload, options);
      const qos = qosOf(options);
      this.deliver(topic, payload, qos, options?.retain === true, ownProperties(options?.properties), false);
      return DONE;
    } catch (e) {
      return Promise.reject(toPubzubError(e));
    }
  }

  /** A publication on `bridge/origin/...`: without a bridge, an error. */
  protected remote(topic: string, _payload: unknown, _options: PublishOptions | undefined): Promise<void> {
    throw new PubzubError(`${topic}: pubzub/local has no bridge to the server; import "pubzub" for it`);
  }

  /**
   * Delivers a message to the local subscribers of `topic`, and keeps it as the topic's
   * retained message if asked (an empty payload clears it). Subscribers see `retain` as
   * given when `asPublished` (messages from the server keep the server's flag); otherwise,
   * as in MQTT, only those who subscribe later see `retain: true`.
   */
  protected deliver(
    topic: string,
    payload: unknown,
    qos: QoS,
    retain: boolean,
    properties: Readonly<Properties> | undefined,
    asPublished: boolean,
  ): void {
    let kept: Message | undefined;
    if (retain) {
      const engine = this.#engine as Engine;
      if (isEmpty(payload)) {
        const id = engine.clearRetained(topic);
        if (id !== NONE) this.#kept[id] = undefined;
      } else {
        kept = message(topic, payload, qos, true, properties);
        this.#kept[this.#retain(topic)] = kept;
      }
    }
    const targets = this.#cache.get(topic) ?? this.#targets(topic);
    if (targets.length === 0) return;
    const msg = asPublished && kept !== undefined ? kept : message(topic, payload, qos, retain && asPublished, properties);
    const infos = this.#entries.info;
    for (let i = 0; i < targets.length; i += 3) {
      const id = targets[i] as number;
      const info = targets[i + 1] as Info;
      // Unsubscribed by an earlier callback of this delivery: no more messages.
      if (infos[id] === info) this.#call(id, info, msg, targets[i + 2] as Bound);
    }
  }

  /** Asks the engine what `topic` reaches; keeps the answer unless a share group took turns. */
  #targets(topic: string): Targets {
    const at = this.#at((this.#engine as Engine).match(topic, true));
    const w = this.#words();
    const n = w[at] as number;
    const entries = this.#entries;
    const targets: Targets = [];
    let levels: string[] | undefined;
    for (let i = 0; i < n; i++) {
      const id = w[at + 2 + i] as number;
      targets.push(id, entries.info[id] as Info, entries.named(id) ? entries.bind(id, (levels ??= topic.split("/"))) : EMPTY);
    }
    if (w[at + 1] === 0) {
      if (this.#cache.size >= CACHE_LIMIT) this.#cache.clear();
      this.#cache.set(topic, targets);
    }
    return targets;
  }

  /** Runs one callback; a throw is reported and does not stop the other deliveries. */
  #call(id: number, info: Info, msg: Message, bindings: Bound): void {
    try {
      (this.#entries.callback[id] as (m: Message, b: Bound, i: Info) => void)(msg, bindings, info);
    } catch (error) {
      console.error("pubzub: a subscriber threw", error);
      for (const hook of this.#errorHooks) {
        try {
          hook(error, msg);
        } catch {
          // an error hook that throws has been told already
        }
      }
    }
  }

  /** The id the retained message of `topic` is kept under; throws for an invalid topic. */
  #retain(topic: string): number {
    const engine = this.#engine as Engine;
    const id = engine.retain(topic);
    if (id === NONE) throw new PubzubError(engine.error());
    return id;
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
    return new Promise<Message<T>>((resolve, reject) => {
      const reply = `reply/call-${this.#nextCall++}-${Math.floor(Math.random() * 1e9)}`;
      const timeout = typeof options.timeout === "number" ? options.timeout : CALL_TIMEOUT_MS;
      let done = false;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const finish = (settle: () => void) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.unsubscribe(sub);
        settle();
      };
      const sub = this.subscribe(reply, (msg) => finish(() => resolve(msg as Message<T>)), { retain_handling: 2 });
      // setTimeout takes at most 2^31 - 1 ms (about 24 days); beyond, it would fire at once.
      const ms = Math.trunc(Math.min(Math.max(timeout, 0), 0x7fffffff));
      timer = setTimeout(() => finish(() => reject(new TimeoutError(`no reply on ${topic} within ${ms} ms`))), ms);
      const { timeout: _, ...rest } = options;
      const request: PublishOptions = {
        ...rest,
        qos: options.qos ?? (isRemote(topic) ? 1 : 0),
        retain: false,
        properties: { ...options.properties, response_topic: reply },
      };
      this.publish(topic, payload, request).catch((e: unknown) => finish(() => reject(toPubzubError(e))));
    });
  }

  /** The subscriptions made on this broker and not ended, oldest first (for tools). */
  subscriptions(): Subscription[] {
    return this.#entries.subscriptions().concat(this.#pending.filter((s) => !s.cancelled));
  }

  /** The subscriptions `topic` would reach (for tools and tests). */
  match(topic: string): Promise<Match[]> {
    return this.run(() => {
      const at = this.#at((this.#engine as Engine).match(topic, false));
      const w = this.#words();
      const entries = this.#entries;
      const out: Match[] = [];
      for (let i = 0, n = w[at] as number; i < n; i++) {
        const id = w[at + 2 + i] as number;
        const bindings = entries.bind(id, topic) as Match["bindings"];
        out.push({ id: entries.sub[id]?.id as number, topic: entries.info[id]?.topic as string, bindings });
      }
      return out;
    });
  }

  /** The retained messages but those on `$` topics, as subscribers get them (for `persist`). */
  retainedMessages(): Message[] {
    const at = (this.#engine as Engine).retainedIds() >>> 2;
    const w = this.#words();
    const out: Message[] = [];
    for (let i = 0, n = w[at] as number; i < n; i++) {
      const msg = this.#kept[w[at + 1 + i] as number];
      if (msg !== undefined) out.push(msg);
    }
    return out;
  }

  /** Keeps a retained message without delivering it: restoring a saved page state. */
  restore(topic: string, payload: unknown, qos: QoS, properties: unknown): void {
    this.#kept[this.#retain(topic)] = message(topic, payload, qos, true, ownProperties(properties));
  }

  /** Saves the retained messages to sessionStorage now (made with the `persist` option). */
  persist(): Promise<void> {
    return this.run(() => persist.saveNow(this));
  }

  /**
   * `on("error", cb)`: `cb(error, message)` when a subscriber throws (it is also logged).
   * Returns a function that removes the listener.
   */
  on(event: "error", listener: ErrorHook): () => void;
  on(event: string, listener: ErrorHook): () => void {
    if (event !== "error") throw new PubzubError(`unknown event "${String(event)}"`);
    this.#errorHooks.add(listener);
    return () => this.#errorHooks.delete(listener);
  }
}
