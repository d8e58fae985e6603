/**
 * `Subscription`, what `subscribe` returns, and its `ready` Promise: made when first read for
 * a local subscription (thousands of subscriptions cost no Promise each), pending from the
 * start for one whose answer is not known yet (server patterns, or any made before the
 * module loaded).
 */
import { toPubzubError } from "./errors.js";
import type { Granted } from "./types.js";

/** Local topics under this prefix are the server's. */
export const PREFIX = "bridge/origin/";

/** Whether a pattern is the server's. */
export const isRemote = (p: unknown): boolean => typeof p === "string" && p.startsWith(PREFIX);

const readies = new WeakMap<Subscription, Promise<Granted>>();
const settlers = new WeakMap<Subscription, (error: unknown, granted?: Granted) => void>();

/** Gives `sub` a pending `ready`, unless it has one. */
export function awaitAnswer(sub: Subscription): void {
  if (settlers.has(sub)) return;
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

/** What `unsubscribe` needs of a broker. */
interface Owner {
  unsubscribe(sub: Subscription): boolean;
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

  /** @internal Made by `subscribe`. */
  constructor(
    given: P | readonly P[],
    private readonly owner: Owner,
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

  /** @internal Gives it its id once made, and lists its entry ids. */
  made(entries: number[]): void {
    this.id ??= nextSubscription++;
    this.entries = entries.length === 1 ? entries[0] : entries;
  }

  /** @internal Its entry ids, and forgets them (it is being removed). */
  takeEntries(): number[] {
    const made = this.entries;
    this.entries = undefined;
    return made === undefined ? [] : typeof made === "number" ? [made] : made;
  }
}
