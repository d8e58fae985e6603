// Compile-time tests of the package's types: `npm test` runs `tsc -p tests/types`, which fails
// on any line below that does not type-check, and on any `@ts-expect-error` that is not an error.
import pubzub, {
  type Bindings,
  ConnectError,
  type Granted,
  type Message,
  NotConnectedError,
  ServerError,
} from "pubzub";

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectType<T extends true>(_: T): void {}

// Bindings come from the pattern string.
expectType<Equal<Bindings<"truck/+id/#rest">, { id: string; rest: string[] }>>(true);
expectType<Equal<Bindings<"a/+/b/#">, {}>>(true);
expectType<Equal<Bindings<"+a/+b">, { a: string; b: string }>>(true);
expectType<Equal<Bindings<string>, Record<string, string | string[]>>>(true);

pubzub.subscribe("truck/+id/#rest", (msg, b, info) => {
  const id: string = b.id;
  const rest: string[] = b.rest;
  const topic: "truck/+id/#rest" = info.topic;
  // @ts-expect-error: no such binding in the pattern
  void b.speed;
  // @ts-expect-error: messages are read-only
  msg.payload = 1;
  void [id, rest, topic];
});

// Several patterns: the bindings of either.
pubzub.subscribe(["room/+room", "user/+user/#"], (_msg, b) => {
  expectType<Equal<typeof b, { room: string } | { user: string }>>(true);
});

// A typed payload.
pubzub.subscribe<"temp/+id", number>("temp/+id", (msg) => {
  const celsius: number = msg.payload;
  void celsius;
});

// Options are checked.
// @ts-expect-error: QoS 3 does not exist
pubzub.publish("a", 1, { qos: 3 });
// @ts-expect-error: retain_handling is 0, 1 or 2
pubzub.subscribe("a", () => {}, { retain_handling: 5 });

// What a message's properties say, locally or from the server.
pubzub.subscribe("bridge/origin/public/props", (msg) => {
  const contentType: string | undefined = msg.properties.content_type;
  const correlation: Uint8Array | string | undefined = msg.properties.correlation_data;
  const answerTo: string | undefined = msg.properties.response_topic;
  void [contentType, correlation, answerTo];
});
// Properties a publication may carry.
pubzub.publish("bridge/origin/public/x", "hi", {
  properties: {
    user_properties: { app: "demo", tags: ["a", "b"] },
    message_expiry_interval: 60,
    payload_format_indicator: true,
    correlation_data: new Uint8Array([1]),
  },
});
// @ts-expect-error: user properties are strings
pubzub.publish("a", 1, { properties: { user_properties: { n: 1 } } });

async function usage(): Promise<void> {
  const granted: Granted = await pubzub.subscribe("bridge/origin/public/#", () => {}, { qos: 1 }).ready;
  const first: 0 | 1 | 2 | null | undefined = granted[0];
  try {
    await pubzub.connect({ connectTimeout: 2000 });
  } catch (e) {
    if (e instanceof ConnectError) void (e.reasonCode satisfies number | undefined);
    if (e instanceof NotConnectedError) void e.message;
  }
  void first;
  const status = await pubzub.connect({ url: "ws://127.0.0.1:8080/mqtt-transport" });
  const connected: boolean = status.is_connected;
  const reply: Message<string> = await pubzub.call<string>("bridge/origin/rpc/x", null, { timeout: 100 });
  const willId: number = await pubzub.lastwill("bridge/origin/public/presence/me", "", { retain: true, delay: 5 });
  const off: () => void = pubzub.on("status", (s) => void s.routing_id);
  try {
    await pubzub.publish("bridge/origin/private", 1, { qos: 1 });
  } catch (e) {
    if (e instanceof ServerError) void (e.reasonCode satisfies number);
  }
  void [connected, reply, willId, off];
}
void usage;
