/**
 * JS values to MQTT payloads and back, typed by the MQTT v5 content type (as cotonic does):
 * string `text/plain`, integer `text/x-integer`, other numbers `text/x-number`,
 * boolean/object/array/null `application/json`, Date `text/x-datetime`, Uint8Array and
 * ArrayBuffer `binary/octet-stream`. Unknown content types arrive as bytes (Uint8Array).
 *
 * Only what crosses to the server (or into sessionStorage) is converted: local delivery
 * passes the value itself.
 */
import { PubzubError } from "./errors.js";

export const TEXT = "text/plain";
const INTEGER = "text/x-integer";
const NUMBER = "text/x-number";
const JSON_TYPE = "application/json";
const DATETIME = "text/x-datetime";
const BINARY = "binary/octet-stream";

const utf8 = new TextEncoder();
const text = new TextDecoder();

/** Why a value cannot be sent, in a page author's words; `undefined` if it can. */
function unsendable(value: unknown): string | undefined {
  switch (typeof value) {
    case "function":
      return "a function";
    case "symbol":
      return "a Symbol";
    case "bigint":
      return "a BigInt (convert it to a string or a number first)";
  }
  return undefined;
}

/**
 * The bytes and content type of `value` (`undefined` is an empty payload without a type).
 * Throws a `PubzubError` saying why a value cannot be sent; `where` names the topic.
 */
export function encode(value: unknown, where: string): [Uint8Array, string | undefined] {
  const fail = (why: string) => new PubzubError(`cannot publish on ${where}: ${why}`);
  const what = unsendable(value);
  if (what !== undefined) throw fail(`${what} cannot be sent`);
  if (value === undefined) return [new Uint8Array(0), undefined];
  if (typeof value === "string") return [utf8.encode(value), TEXT];
  if (typeof value === "number") return [utf8.encode(String(value)), Number.isInteger(value) ? INTEGER : NUMBER];
  if (value instanceof Uint8Array) return [value, BINARY];
  if (value instanceof ArrayBuffer) return [new Uint8Array(value), BINARY];
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw fail("an invalid Date cannot be sent");
    return [utf8.encode(value.toISOString()), DATETIME];
  }
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (e) {
    // Cycles and nested BigInts: say what JSON.stringify said.
    throw fail(`an object that JSON.stringify cannot encode (${(e as Error).message})`);
  }
  if (json === undefined) throw fail("a value JSON.stringify turns into nothing cannot be sent");
  return [utf8.encode(json), JSON_TYPE];
}

/** The JS value of a payload with this content type (binary payloads as a copy). */
export function decode(bytes: Uint8Array, contentType: string | undefined): unknown {
  switch (contentType) {
    case TEXT:
      return text.decode(bytes);
    case INTEGER:
    case NUMBER:
      return parseFloat(text.decode(bytes).trim());
    case JSON_TYPE: {
      const s = text.decode(bytes);
      try {
        return JSON.parse(s);
      } catch {
        return s;
      }
    }
    case DATETIME:
      return new Date(text.decode(bytes));
  }
  return bytes.slice();
}

/** Whether `payload` counts as empty: published retained, it clears the retained message. */
export function isEmpty(payload: unknown): boolean {
  return (
    payload === undefined ||
    payload === null ||
    payload === "" ||
    ((payload instanceof Uint8Array || payload instanceof ArrayBuffer) && payload.byteLength === 0)
  );
}
