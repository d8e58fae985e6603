// The page broker's per-topic match cache against the subscription tree: for random
// sequences of subscribe, unsubscribe and publish on topics from a small alphabet (so that
// cached answers are reused and invalidated often), every publish reaches exactly the
// subscriptions `match` finds in the tree at that moment, with the same bindings; of a share
// group, exactly one member.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";

import { createPubzub, load } from "pubzub";

await load(await readFile(new URL("../../pkg-js/wasm/pubzub_bg.wasm", import.meta.url)));

/** A small deterministic generator: a failing run can be replayed by its seed. */
function random(seed) {
  let x = seed >>> 0 || 1;
  return (n) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
}

const LEVELS = ["a", "b", ""];
const pick = (next, xs) => xs[next(xs.length)];

/** A topic; never empty (that is not a topic). */
function topic(next) {
  return Array.from({ length: 1 + next(3) }, () => pick(next, LEVELS)).join("/") || "a";
}

function pattern(next) {
  const levels = Array.from({ length: 1 + next(3) }, () => pick(next, [...LEVELS, "+", "+n", "+m"]));
  const end = pick(next, [null, null, "#", "#rest"]);
  const body = (end ? [...levels, end] : levels).join("/") || "b";
  return next(8) === 0 ? `$share/g${next(2)}/${body}` : body;
}

test("every publish reaches what match finds in the tree, through the cache", async () => {
  for (let seed = 1; seed <= 150; seed++) {
    const next = random(seed);
    const b = createPubzub();
    await b.ready;
    const subs = [];
    let log = [];
    for (let step = 0; step < 120; step++) {
      const op = next(10);
      if (op < 3) {
        const p = pattern(next);
        const sub = b.subscribe(p, (msg, bindings, info) => log.push([sub.id, info.topic, JSON.stringify(bindings)]));
        subs.push(sub);
      } else if (op < 4 && subs.length > 0) {
        const [sub] = subs.splice(next(subs.length), 1);
        b.unsubscribe(sub);
      } else {
        const t = topic(next);
        const expected = await b.match(t);
        log = [];
        await b.publish(t, step);
        const got = log.map(([id, p, bindings]) => `${id} ${p} ${bindings}`).sort();
        const plain = expected.filter((m) => !m.topic.startsWith("$share/")).map((m) => `${m.id} ${m.topic} ${JSON.stringify(m.bindings)}`);
        const groups = new Map();
        for (const m of expected.filter((m) => m.topic.startsWith("$share/"))) {
          const members = groups.get(m.topic) ?? [];
          members.push(`${m.id} ${m.topic} ${JSON.stringify(m.bindings)}`);
          groups.set(m.topic, members);
        }
        const context = `seed ${seed}, step ${step}, topic "${t}"`;
        const gotPlain = got.filter((g) => plain.includes(g));
        assert.deepEqual(gotPlain, plain.sort(), `${context}: the plain subscriptions`);
        for (const [group, members] of groups) {
          assert.equal(got.filter((g) => members.includes(g)).length, 1, `${context}: one member of ${group}`);
        }
        assert.equal(got.length, plain.length + groups.size, `${context}: nothing else (${got})`);
      }
    }
  }
});
