/**
 * The types of the pubzub API: messages, options, and bindings typed from the pattern string.
 */

/** MQTT quality of service: 0 at most once, 1 at least once, 2 exactly once. */
export type QoS = 0 | 1 | 2;

/**
 * MQTT v5 properties of a message. Local messages carry what was passed to `publish`, as
 * given. For `bridge/origin/...` all of these go to the server, and messages from the server
 * carry what their publisher set, in the forms of {@link ReceivedProperties}.
 */
export interface Properties {
  /**
   * How the payload is encoded. pubzub sets it from the payload's type (see the README);
   * one given here is sent instead, and the payload is still encoded by its type.
   */
  content_type?: string;
  /** `true` (or 1): the payload is UTF-8 text. */
  payload_format_indicator?: boolean | 0 | 1;
  /** Seconds until the message (also a retained one) expires on the server. */
  message_expiry_interval?: number;
  /**
   * Where the receiver should send its answer. `bridge/origin/R` is the server topic `R`; any
   * other topic is local to this page (the server sees `bridge/<routing_id>/R`).
   */
  response_topic?: string;
  /** Data that ties an answer to its request; bytes, or a string sent as UTF-8. */
  correlation_data?: Uint8Array | string;
  /** Name/value pairs in order (names may repeat), or an object of values or value lists. */
  user_properties?: Array<[string, string]> | Record<string, string | string[]>;
}

/** The properties of a message that came from the server: what its publisher set. */
export interface ReceivedProperties {
  content_type?: string;
  payload_format_indicator?: boolean;
  /** Seconds of its expiry that were left when the server sent it. */
  message_expiry_interval?: number;
  /** `bridge/origin/R` for the publisher's `R`: publishing the answer there reaches it. */
  response_topic?: string;
  correlation_data?: Uint8Array;
  user_properties?: Array<[string, string]>;
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
  /** As published locally, or {@link ReceivedProperties} for messages from the server. */
  readonly properties: Readonly<Properties> | Readonly<ReceivedProperties>;
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
   * Retained messages on subscribing, as in MQTT where a subscription is a callback on a
   * pattern: 0 (default) delivers them; 1 only if this callback is not subscribed to this
   * pattern yet (another callback on the same pattern still gets them); 2 never. For
   * `bridge/origin/...` patterns this decides about the retained messages the page holds;
   * the server sends its own on its first subscription to a filter.
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
  /** For `bridge/origin/...` requests QoS 1 by default, so that a refusal is heard. */
  qos?: QoS;
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
  /** Milliseconds `connect()` waits before it rejects (10000 by default); retries go on. */
  connectTimeout?: number;
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
  /** Why the last connection attempt failed or the connection was lost; null once connected. */
  last_error: string | null;
}

/** The QoS the server granted per pattern of a subscription; `null` for local patterns. */
export type Granted = ReadonlyArray<QoS | null>;

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
