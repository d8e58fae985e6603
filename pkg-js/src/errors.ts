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
