// The page broker's local publish/subscribe next to qlobber and mqemitter, in one page, on the
// same workloads. `scripts/bench-page/run.mjs` serves this page with the built package (as a
// user imports it: /pkg/dist/index.js) and the peers bundled from npm, and prints the results.
import { createPubzub } from "/pkg/dist/index.js";
import init from "/pkg/wasm/pubzub.js";
import { MQEmitter, Qlobber } from "./peers.js";

/** A small deterministic generator: every implementation gets the same topics. */
function random(seed) {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

const LEVELS = 4;
const WORDS = 10;

/** `n` subscription patterns (a tenth with a wildcard) and `m` topics to publish on. */
function workload(n, m, seed) {
  const next = random(seed);
  const word = () => `w${Math.floor(next() * WORDS)}`;
  const topic = () => Array.from({ length: LEVELS }, word).join("/");
  const patterns = Array.from({ length: n }, (_, i) => {
    const levels = topic().split("/");
    if (i % 10 !== 9) return levels.join("/");
    if (next() < 0.5) return [...levels.slice(0, LEVELS - 2), "#"].join("/");
    levels[Math.floor(next() * LEVELS)] = "+";
    return levels.join("/");
  });
  const topics = Array.from({ length: m }, topic);
  return { patterns, topics };
}

/** Each implementation behind the same three calls; a message is one object per publish. */
const implementations = {
  async pubzub() {
    const broker = createPubzub();
    await broker.ready;
    return {
      subscribe: (pattern, cb) => broker.subscribe(pattern, cb),
      unsubscribe: (sub) => broker.unsubscribe(sub),
      publish: (topic, payload) => void broker.publish(topic, payload),
    };
  },
  async qlobber() {
    const q = new Qlobber({ separator: "/", wildcard_one: "+", wildcard_some: "#" });
    return {
      subscribe: (pattern, cb) => (q.add(pattern, cb), [pattern, cb]),
      unsubscribe: ([pattern, cb]) => q.remove(pattern, cb),
      publish: (topic, payload) => {
        const message = { topic, payload };
        for (const cb of q.match(topic)) cb(message);
      },
    };
  },
  async mqemitter() {
    const mq = MQEmitter();
    return {
      subscribe: (pattern, cb) => {
        const listener = (message, done) => {
          cb(message);
          done();
        };
        mq.on(pattern, listener);
        return [pattern, listener];
      },
      unsubscribe: ([pattern, listener]) => mq.removeListener(pattern, listener),
      publish: (topic, payload) => mq.emit({ topic, payload }),
    };
  },
};

/** Runs `body` and returns its operations per second and what it counted. */
function rate(ops, body) {
  const start = performance.now();
  const counted = body();
  const seconds = (performance.now() - start) / 1000;
  return { perSecond: ops / seconds, counted };
}

const workloads = {
  /** publish -> callback, one exact subscriber. */
  async exact1(make) {
    const b = await make();
    let got = 0;
    b.subscribe("bench/exact/topic/one", () => got++);
    const n = 200_000;
    const r = rate(n, () => {
      for (let i = 0; i < n; i++) b.publish("bench/exact/topic/one", i);
      return got;
    });
    return { "messages/s": r.perSecond, deliveries: r.counted };
  },
  /** 100 subscriptions, a tenth with wildcards; random topics. */
  async subs100(make) {
    return await publishes(make, workload(100, 100_000, 7));
  },
  /**
   * The same 100 subscriptions, but every publish on a topic never seen before (its last
   * level is new): pubzub's per-topic match cache never helps.
   */
  async subs100new(make) {
    const { patterns, topics } = workload(100, 100_000, 7);
    return await publishes(make, { patterns, topics: topics.map((t, i) => `${t.slice(0, t.lastIndexOf("/"))}/n${i}`) });
  },
  /** 10,000 subscriptions, a tenth with wildcards; random topics. */
  async subs10k(make) {
    return await publishes(make, workload(10_000, 50_000, 11));
  },
  /** 10,000 subscribe calls. */
  async subscribe10k(make) {
    const b = await make();
    const { patterns } = workload(10_000, 0, 13);
    const cb = () => {};
    const r = rate(patterns.length, () => patterns.forEach((p) => b.subscribe(p, cb)));
    return { "subscriptions/s": r.perSecond };
  },
  /** subscribe + unsubscribe, 10,000 times, next to 1,000 other subscriptions. */
  async churn(make) {
    const b = await make();
    const { patterns } = workload(11_000, 0, 17);
    const cb = () => {};
    patterns.slice(0, 1000).forEach((p) => b.subscribe(p, cb));
    const churned = patterns.slice(1000);
    const r = rate(churned.length, () => churned.forEach((p) => b.unsubscribe(b.subscribe(p, cb))));
    return { "subscribe+unsubscribe/s": r.perSecond };
  },
};

async function publishes(make, { patterns, topics }) {
  const b = await make();
  let got = 0;
  const cb = () => got++;
  patterns.forEach((p) => b.subscribe(p, cb));
  const r = rate(topics.length, () => {
    for (let i = 0; i < topics.length; i++) b.publish(topics[i], i);
    return got;
  });
  return { "publishes/s": r.perSecond, "deliveries/s": (r.counted / topics.length) * r.perSecond, deliveries: r.counted };
}

/** A wildcard subscription that matches 1,000 retained messages (pubzub only: the peers keep none). */
async function retained1000() {
  const broker = createPubzub();
  await broker.ready;
  for (let i = 0; i < 1000; i++) await broker.publish(`retained/${i}/value`, i, { retain: true });
  let got = 0;
  const rounds = 50;
  const r = rate(rounds * 1000, () => {
    for (let k = 0; k < rounds; k++) broker.unsubscribe(broker.subscribe("retained/+/value", () => got++));
    return got;
  });
  return { "deliveries/s": r.perSecond, deliveries: r.counted };
}

/** Bytes of JS heap, plus wasm memory for pubzub, held by 10,000 subscriptions. */
async function memory(name) {
  const wasm = await init();
  const wasmMemory = Object.values(wasm).find((v) => v instanceof WebAssembly.Memory);
  const { patterns } = workload(10_000, 0, 19);
  const cb = () => {};
  const b = await implementations[name]();
  gc();
  const heap0 = performance.memory.usedJSHeapSize;
  const wasm0 = wasmMemory.buffer.byteLength;
  const subs = patterns.map((p) => b.subscribe(p, cb));
  gc();
  const heap = performance.memory.usedJSHeapSize - heap0;
  const grown = name === "pubzub" ? wasmMemory.buffer.byteLength - wasm0 : 0;
  window.keep = subs; // alive until measured
  return { "JS heap bytes": heap, "wasm memory bytes": grown, bytes: heap + grown };
}

window.bench = { implementations: Object.keys(implementations), workloads: Object.keys(workloads), memory, retained1000,
  async run(workload, name) {
    return await workloads[workload](implementations[name]);
  },
};
window.benchReady = true;
