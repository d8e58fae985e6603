/**
 * The subscription entries, one per pattern of a `subscribe` call, by the wasm engine's ids:
 * callback, the `{topic}` object the callback gets third, the named-wildcard plan, the
 * engine's flags and the subscription, in parallel arrays (a few bytes per entry each).
 */
import type { Subscription } from "./subscription.js";
import type { Callback } from "./types.js";

/** The callback's third argument: the pattern that matched. Frozen. */
export type Info = Readonly<{ topic: string }>;
/** What named wildcards bound: `+name` a string, `#name` the remaining levels. Frozen. */
export type Bound = Readonly<Record<string, string | readonly string[]>>;

export const EMPTY: Bound = Object.freeze({});

/** A binding of the engine's plan: the topic level (bits 0-14), rest (bit 15), the pattern level (16-31). */
const REST = 1 << 15;

export class Entries {
  readonly info: (Info | undefined)[] = [];
  readonly callback: (Callback<string> | undefined)[] = [];
  readonly sub: (Subscription | undefined)[] = [];
  /** The engine's flags for the pattern. */
  readonly flags: number[] = [];
  /** Per binding: the topic level, whether it takes the rest, the name; `null` without names. */
  readonly #plan: ((string | number)[] | null)[] = [];

  /**
   * Adds entry `id`; `words[at..at + n]` is the engine's plan for `pattern`'s named
   * wildcards (see `REST`).
   */
  add(
    id: number,
    pattern: string,
    callback: Callback<string>,
    sub: Subscription,
    flags: number,
    words: Uint32Array,
    at: number,
    n: number,
  ): Info {
    let plan: (string | number)[] | null = null;
    if (n > 0) {
      plan = [];
      const levels = pattern.split("/");
      for (let i = at; i < at + n; i++) {
        const bind = words[i] as number;
        plan.push(bind & (REST - 1), bind & REST, (levels[bind >>> 16] as string).slice(1));
      }
    }
    const info: Info = Object.freeze({ topic: pattern });
    this.info[id] = info;
    this.callback[id] = callback;
    this.sub[id] = sub;
    this.flags[id] = flags;
    this.#plan[id] = plan;
    return info;
  }

  /** Removes entry `id`; returns its info (the pattern), if it was there. */
  remove(id: number): Info | undefined {
    const info = this.info[id];
    this.info[id] = this.callback[id] = this.sub[id] = undefined;
    this.#plan[id] = null;
    return info;
  }

  /** Whether entry `id` has named wildcards. */
  named(id: number): boolean {
    return this.#plan[id] !== null;
  }

  /** The bindings of entry `id` for a topic it matches (split into levels, or not yet). */
  bind(id: number, levels: string[] | string): Bound {
    const plan = this.#plan[id];
    if (plan === null || plan === undefined) return EMPTY;
    if (typeof levels === "string") levels = levels.split("/");
    const b: Record<string, string | readonly string[]> = {};
    for (let i = 0; i < plan.length; i += 3) {
      const at = plan[i] as number;
      b[plan[i + 2] as string] = plan[i + 1] ? Object.freeze(levels.slice(at)) : (levels[at] ?? "");
    }
    return Object.freeze(b);
  }

  /** Whether `callback` is subscribed to `pattern` (retain handling 1). */
  has(pattern: string, callback: unknown): boolean {
    return this.info.some((info, id) => info?.topic === pattern && this.callback[id] === callback);
  }

  /** The subscriptions that have entries, oldest first. */
  subscriptions(): Subscription[] {
    const made = new Set<Subscription>();
    for (const sub of this.sub) if (sub !== undefined) made.add(sub);
    return [...made].sort((a, b) => (a.id as number) - (b.id as number));
  }
}
