/**
 * The types of the pubzub API: messages, options, and bindings typed from the pattern string.
 */

/** MQTT quality of service: 0 at most once, 1 at least once, 2 exactly once. */
export type QoS = 0 | 1 | 2;

/**
 * MQTT v5 properties a message may carry. Messages from the server carry what the publisher
 * set; local messages carry what was passed to `publish`.
 */
export interface Properties {
  /** How the payload is encoded, e.g. `"application/json"`; set by pubzub for the server. */
  content_type?: string;
  /** Where the receiver should send its answer (see `call`). */
  response_topic?: string;
  /** Data that ties an answer to its request; bytes or a string. */
  correlation_data?: Uint8Array | string;
  /** Name/value pairs in order; names may repeat. */
  user_properties?: Array<[string, string]>;
  /** Seconds until a message (also a retained one) expires. */
  message_expiry_interval?: number;
  [name: string]: unknown;
}

/**
 * A message as subscribers receive it. It is frozen: one subscriber cannot change what
 * another receives. The payload is the value that was published, not a copy.
 *
 * @example
 * pubzub.subscribe("room/+id/temp", (msg) => console.log(msg.topic, msg.payload));
 */
export interface Message<T = unknown> {
  readonly type: "publish";
  /** The topic it was published on (for server messages, with `bridge/origin/` in front). */
  readonly topic: string;
  readonly payload: T;
  readonly qos: QoS;
  /** True for a retained message delivered because of a new subscription. */
  readonly retain: boolean;
  readonly properties: Readonly<Properties>;
}

/** What a subscription callback gets as its third argument. */
export interface DeliveryInfo<P extends string = string> {
  /** The pattern (of those subscribed in one call) that matched. */
  readonly topic: P;
}

type Simplify<T> = { [K in keyof T]: T[K] } & {};

/** The binding one level of a pattern makes: `+name` a string, `#name` a list of levels. */
type LevelBinding<L extends string> = L extends `+${infer N}`
  ? N extends ""
    ? {}
    : { [K in N]: string }
  : L extends `#${infer N}`
    ? N extends ""
      ? {}
      : { [K in N]: string[] }
    : {};

type PatternBindings<P extends string> = P extends `${infer Head}/${infer Tail}`
  ? LevelBinding<Head> & PatternBindings<Tail>
  : LevelBinding<P>;

/**
 * The bindings of a pattern's named wildcards, computed from the pattern string.
 *
 * @example
 * // Bindings<"truck/+id/#rest"> is { id: string; rest: string[] }
 * pubzub.subscribe("truck/+id/#rest", (msg, b) => console.log(b.id, b.rest.join("/")));
 */
export type Bindings<P extends string> = string extends P
  ? Record<string, string | string[]>
  : P extends unknown
    ? Simplify<PatternBindings<P>>
    : never;

/** A subscription callback. A callback that throws does not stop delivery to the others. */
export type Callback<P extends string, T = unknown> = (
  message: Message<T>,
  bindings: Bindings<P>,
  info: DeliveryInfo<P>,
) => void;

export interface SubscribeOptions {
  /**
   * Retained messages on subscribing: 0 (default) delivers them, 1 only when this pattern
   * had no subscriber yet, 2 never.
   */
  retain_handling?: 0 | 1 | 2;
  /** The QoS asked of the server for `bridge/origin/...` patterns. */
  qos?: QoS;
}

export interface PublishOptions {
  qos?: QoS;
  /** Keep the message for later subscribers; an empty payload clears it. */
  retain?: boolean;
  properties?: Properties;
}

export interface LastwillOptions extends PublishOptions {
  /**
   * Seconds to wait after the connection is lost: a page that reconnects sooner (a network
   * blip) cancels it. A closed page publishes it at once. 0 by default.
   */
  delay?: number;
}

export interface CallOptions extends PublishOptions {
  /** Milliseconds to wait for the reply (15000 by default). */
  timeout?: number;
}

export interface ConnectOptions {
  /** The server's MQTT WebSocket; by default `ws(s)://<this page's host>/mqtt-transport`. */
  url?: string;
  username?: string;
  password?: string;
  /** By default the server assigns one. */
  clientId?: string;
  /** Seconds between pings when idle (30 by default). */
  keepAlive?: number;
  /** Publications kept while offline (1000 by default); beyond, QoS 0 ones go first. */
  maxQueued?: number;
}

/** The bridge's state, also retained on the local topic `$bridge/origin/status`. */
export interface Status {
  is_connected: boolean;
  /** The server still had this page's session (subscriptions, wills) on reconnecting. */
  session_present: boolean;
  client_id: string | null;
  /** The id that addresses this page: the server delivers `bridge/<routing_id>/X` as `X`. */
  routing_id: string | null;
  /** Publications waiting to be sent. */
  queued: number;
  /** Publications dropped because the offline queue was full. */
  dropped: number;
}

/** A subscription a topic would reach, as `match` lists it. */
export interface Match {
  id: number;
  topic: string;
  bindings: Record<string, string | string[]>;
}

export interface CreateOptions {
  /** Keep retained messages in sessionStorage under this key, across reloads of the page. */
  persist?: string;
}
