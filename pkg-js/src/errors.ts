/**
 * The errors pubzub throws and rejects with. Every one is a `PubzubError`.
 */

/** Anything pubzub refuses: an invalid topic or option, a payload it cannot send. */
export class PubzubError extends Error {
  override name = "PubzubError";
}

/** The server refused a message; `reasonCode` is the MQTT v5 reason code (0x87: not authorized). */
export class ServerError extends PubzubError {
  override name = "ServerError";
  constructor(
    message: string,
    readonly reasonCode: number,
  ) {
    super(`${message} (reason code 0x${reasonCode.toString(16).padStart(2, "0")})`);
  }
}

/**
 * `connect()` failed: the server refused the login (`reasonCode`, e.g. 0x86 bad user name or
 * password, 0x87 not authorized; the bridge stops retrying), or there was no connection
 * within `connectTimeout` (no `reasonCode`; the bridge keeps retrying).
 */
export class ConnectError extends PubzubError {
  override name = "ConnectError";
  constructor(
    message: string,
    readonly reasonCode?: number,
  ) {
    super(message);
  }
}

/** The bridge was closed with `disconnect()`: nothing goes to the server until `connect()`. */
export class NotConnectedError extends PubzubError {
  override name = "NotConnectedError";
}

/** `call` had no reply in time. */
export class TimeoutError extends PubzubError {
  override name = "TimeoutError";
}

/** A publication was dropped because the offline queue was full. */
export class QueueFullError extends PubzubError {
  override name = "QueueFullError";
}

/** The same error as a `PubzubError` subclass (errors from the wasm module are plain `Error`s). */
export function toPubzubError(e: unknown): unknown {
  if (!(e instanceof Error) || e instanceof PubzubError) return e;
  let typed: PubzubError;
  switch (e.name) {
    case "ServerError":
      typed = new ServerError(e.message, Number((e as { reasonCode?: unknown }).reasonCode));
      break;
    case "ConnectError": {
      const code = (e as { reasonCode?: unknown }).reasonCode;
      typed = new ConnectError(e.message, typeof code === "number" ? code : undefined);
      break;
    }
    case "NotConnectedError":
      typed = new NotConnectedError(e.message);
      break;
    case "TimeoutError":
      typed = new TimeoutError(e.message);
      break;
    case "QueueFullError":
      typed = new QueueFullError(e.message);
      break;
    default:
      typed = new PubzubError(e.message);
  }
  return typed;
}
