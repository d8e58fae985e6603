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
import { PubzubError, TimeoutError, toPubzubError } from "./errors.js";
import * as persist from "./persist.js";
import { isEmpty } from "./payload.js";
import type {
  Callback,
  CallOptions,
  CreateOptions,
  Granted,
  Match,
  Message,
  Properties,
  PublishOptions,
  QoS,
  SubscribeOptions,
} from "./types.js";

/** Local topics under this prefix are the server's. */
export const PREFIX = "bridge/origin/";

/** What the broker needs of a loaded wasm module (both builds have it). */
export interface Runtime {
  Engine: new () => Engine;
  memory: WebAssembly.Memory;
}

/** The wasm engine's calls (src/local.rs); results are read from wasm memory in place. */
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
/** A `subscribe` flag: the pattern matches one topic only (2, shared, is not needed here). */
const EXACT = 1;
/** A binding in a plan: the topic level (bits 0-14), rest (bit 15), the pattern level (16-31). */
const REST = 1 << 15;
/** Topics whose matches are kept; beyond, the cache starts over. */
const CACHE_LIMIT = 16_384;
/** How long `call` waits for a reply unless told otherwise. */
const CALL_TIMEOUT_MS = 15_000;

const EMPTY: Readonly<Record<string, never>> = Object.freeze({});
const DONE: Promise<void> = Promise.resolve();
type Bound = Readonly<Record<string, string | readonly string[]>>;

/**
 * One pattern of one `subscribe` call. It is also the callback's third argument, frozen: its
 * one public field is `topic`, the pattern.
 */
class Entry {
  readonly #callback: Callback<string>;
  /** Named wildcards: [topic level, rest?, name] per binding, or `null` without names. */
  readonly #plan: (string | number)[] | null;
  readonly #sub: Subscription;
  /** The engine's flags for the pattern (`EXACT`, `SHARED`). */
  readonly #flags: number;

  constructor(
    readonly topic: string,
    callback: Callback<string>,
    sub: Subscription,
    plan: (string | number)[] | null,
    flags: number,
  ) {
    this.#callback = callback;
    this.#sub = sub;
    this.#plan = plan;
    this.#flags = flags;
    Object.freeze(this);
  }

  get flags(): number {
    return this.#flags;
  }

  get sub(): Subscription {
    return this.#sub;
  }

  calls(callback: unknown): boolean {
    return this.#callback === callback;
  }

  /** The bindings for a topic (split into levels) this entry matches. */
  bind(levels: string[] | string): Bound {
    const plan = this.#plan;
    if (plan === null) return EMPTY;
    if (typeof levels === "string") levels = levels.split("/");
    const b: Record<string, string | readonly string[]> = {};
    for (let i = 0; i < plan.length; i += 3) {
      const at = plan[i] as number;
      b[plan[i + 2] as string] = plan[i + 1] ? Object.freeze(levels.slice(at)) : (levels[at] ?? "");
    }
    return Object.freeze(b);
  }

  named(): boolean {
    return this.#plan !== null;
  }

  call(message: Message, bindings: Bound): void {
    (this.#callback as (m: Message, b: Bound, i: Entry) => void)(message, bindings, this);
  }
}

/** What a topic reaches: entries and their bindings, in pairs. */
type Targets = (Entry | Bound)[];

/**
 * The `ready` Promises of subscriptions whose answer is not known when they are made (server
 * patterns, or any before the module loaded), and how to settle them. A local subscription
 * made on the loaded module has no entry: its `ready` is made when first read, so that
 * thousands of subscriptions cost no Promise each.
 */
const readies = new WeakMap<Subscription, Promise<Granted>>();
const settlers = new WeakMap<Subscription, (error: unknown, granted?: Granted) => void>();

/** Whether a pattern is the server's. */
const remote = (p: unknown): boolean => typeof p === "string" && p.startsWith(PREFIX);

/** Gives `sub` a pending `ready`. */
export function awaitAnswer(sub: Subscription): void {
  const ready = new Promise<Granted>((resolve, reject) => {
    settlers.set(sub, (error, granted) => (error ? reject(toPubzubError(error)) : resolve(granted ?? [])));
  });
  ready.catch(() => {}); // whoever awaits it sees a rejection; nobody else needs one
  readies.set(sub, ready);
}

/** Settles a pending `ready` with `error`, or with the granted QoS. */
export function settleReady(sub: Subscription, error: unknown, granted?: Granted): void {
  const settle = settlers.get(sub);
  settlers.delete(sub);
  settle?.(error, granted);
}

let nextSubscription = 1;

/** What `subscribe` returns: pass it to `unsubscribe`, or call its `unsubscribe()`. */
export class Subscription<P extends string = string> {
  /** The broker's id for it, once it is made. */
  id: number | undefined;
  cancelled = false;
  /** @internal The engine's entry ids once made: one, or one per pattern. */
  entries: number | number[] | undefined;
  /** The pattern, or a copy of the patterns, as given. */
  readonly #given: P | readonly P[];

  constructor(
    given: P | readonly P[],
    private readonly owner: Broker,
  ) {
    this.#given = given;
  }

  /** The patterns subscribed to. */
  get patterns(): readonly P[] {
    const given = this.#given;
    return typeof given === "string" ? [given] : (given as readonly P[]);
  }

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
    let ready = readies.get(this);
    if (ready === undefined) {
      ready = Promise.resolve(this.patterns.map(() => null));
      readies.set(this, ready);
    }
    return ready;
  }

  /** Same as `pubzub.unsubscribe(this)`. */
  unsubscribe(): boolean {
    return this.owner.unsubscribe(this);
  }
}

type ErrorHook = (error: unknown, message: Message) => void;

function integer(options: object | undefined, key: string, max: number, fallback: number): number {
  const v = (options as Record<string, unknown> | undefined)?.[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > max) {
    throw new PubzubError(`${key} must be an integer from 0 to ${max}`);
  }
  return v;
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
  /** Subscription entries by engine id. */
  #entries: (Entry | undefined)[] = [];
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

  /**
   * The engine's result words, read where the engine wrote them. Growing wasm memory
   * detaches the old buffer, and a view of a detached buffer has length 0.
   */
  #words(): Uint32Array {
    if (this.#view.length === 0) this.#view = new Uint32Array((this.#memory as WebAssembly.Memory).buffer);
    return this.#view;
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
      if (!sub.patterns.some(remote)) settleReady(sub, undefined, sub.patterns.map(() => null));
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
    const qos = options === undefined ? 0 : (integer(options, "qos", 2, 0) as QoS);
    if (patterns.some(remote) && !settlers.has(sub)) awaitAnswer(sub);
    /** Entries and the ids of the retained messages they get, in pairs. */
    let retained: (Entry | number)[] | undefined;
    try {
      for (const p of patterns) {
        if (typeof p !== "string") throw new PubzubError("a topic filter must be a string");
        const wanted = handling === 0 || (handling === 1 && !this.#entries.some((e) => e?.topic === p && e.calls(callback)));
        retained = this.#add(sub, p, callback, wanted, retained);
      }
      sub.id ??= nextSubscription++;
      this.made(sub, qos);
    } catch (e) {
      this.#drop(sub);
      throw e;
    }
    if (retained === undefined) return;
    for (let i = 0; i < retained.length; i += 2) {
      const entry = retained[i] as Entry;
      const msg = this.#kept[retained[i + 1] as number];
      if (msg !== undefined && !sub.cancelled) this.#call(entry, msg, entry.bind(msg.topic));
    }
  }

  /**
   * Makes the entry of one pattern of `sub`; appends it and the ids of the retained messages
   * it gets (if `wanted`) to `retained`.
   */
  #add(
    sub: Subscription,
    pattern: string,
    callback: Callback<string>,
    wanted: boolean,
    retained: (Entry | number)[] | undefined,
  ): (Entry | number)[] | undefined {
    const engine = this.#engine as Engine;
    const at = engine.subscribe(pattern, wanted) >>> 2;
    if (at === 0) throw new PubzubError(engine.error());
    const w = this.#words();
    const id = w[at] as number;
    const flags = w[at + 1] as number;
    const named = w[at + 2] as number;
    let plan: (string | number)[] | null = null;
    if (named > 0) {
      plan = [];
      const levels = pattern.split("/");
      for (let i = 0; i < named; i++) {
        const bind = w[at + 3 + i] as number;
        plan.push(bind & (REST - 1), bind & REST, (levels[bind >>> 16] as string).slice(1));
      }
    }
    const kept = at + 3 + named;
    const n = w[kept] as number;
    const entry = new Entry(pattern, callback, sub, plan, flags);
    for (let i = 0; i < n; i++) (retained ??= []).push(entry, w[kept + 1 + i] as number);
    this.#entries[id] = entry;
    const made = sub.entries;
    sub.entries = made === undefined ? id : typeof made === "number" ? [made, id] : (made.push(id), made);
    this.#forget(pattern, flags);
    return retained;
  }

  /** Called when a subscription's entries are made (the bridge subscribes on the server). */
  protected made(_sub: Subscription, _qos: QoS): void {}

  /** Called when a subscription ends (the bridge unsubscribes on the server). */
  protected ended(_sub: Subscription): void {}

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
    const made = sub.entries;
    sub.entries = undefined;
    for (const id of made === undefined ? [] : typeof made === "number" ? [made] : made) {
      const entry = this.#entries[id];
      this.#entries[id] = undefined;
      engine.unsubscribe(id);
      if (entry !== undefined) this.#forget(entry.topic, entry.flags);
    }
  }

  /** Ends a subscription; false if it had already ended. */
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
      const qos = options === undefined ? 0 : (integer(options, "qos", 2, 0) as QoS);
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
    for (let i = 0; i < targets.length; i += 2) this.#call(targets[i] as Entry, msg, targets[i + 1] as Bound);
  }

  /** Asks the engine what `topic` reaches; keeps the answer unless a share group took turns. */
  #targets(topic: string): Targets {
    const engine = this.#engine as Engine;
    const at = engine.match(topic, true) >>> 2;
    if (at === 0) throw new PubzubError(engine.error());
    const w = this.#words();
    const n = w[at] as number;
    const targets: Targets = [];
    let levels: string[] | undefined;
    for (let i = 0; i < n; i++) {
      const entry = this.#entries[w[at + 2 + i] as number] as Entry;
      targets.push(entry, entry.named() ? entry.bind((levels ??= topic.split("/"))) : EMPTY);
    }
    if (w[at + 1] === 0) {
      if (this.#cache.size >= CACHE_LIMIT) this.#cache.clear();
      this.#cache.set(topic, targets);
    }
    return targets;
  }

  /** Runs one callback; a throw is reported and does not stop the other deliveries. */
  #call(entry: Entry, msg: Message, bindings: Bound): void {
    try {
      entry.call(msg, bindings);
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
      const request: PublishOptions = {
        ...options,
        qos: options.qos ?? (typeof topic === "string" && topic.startsWith(PREFIX) ? 1 : 0),
        retain: false,
        properties: { ...options.properties, response_topic: reply },
      };
      delete (request as CallOptions).timeout;
      this.publish(topic, payload, request).catch((e: unknown) => finish(() => reject(toPubzubError(e))));
    });
  }

  /** The subscriptions made on this broker and not ended, oldest first (for tools). */
  subscriptions(): Subscription[] {
    const made = new Set<Subscription>();
    for (const entry of this.#entries) if (entry !== undefined) made.add(entry.sub);
    return [...made].sort((a, b) => (a.id as number) - (b.id as number)).concat(this.#pending.filter((s) => !s.cancelled));
  }

  /** The subscriptions `topic` would reach (for tools and tests). */
  match(topic: string): Promise<Match[]> {
    return this.run(() => {
      const engine = this.#engine as Engine;
      const at = engine.match(topic, false) >>> 2;
      if (at === 0) throw new PubzubError(engine.error());
      const w = this.#words();
      const out: Match[] = [];
      for (let i = 0, n = w[at] as number; i < n; i++) {
        const entry = this.#entries[w[at + 2 + i] as number] as Entry;
        out.push({ id: entry.sub.id as number, topic: entry.topic, bindings: entry.bind(topic) as Match["bindings"] });
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

  /** The id the retained message of `topic` is kept under; throws for an invalid topic. */
  #retain(topic: string): number {
    const engine = this.#engine as Engine;
    const id = engine.retain(topic);
    if (id === NONE) throw new PubzubError(engine.error());
    return id;
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
