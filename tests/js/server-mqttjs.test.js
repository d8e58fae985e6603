// MQTT.js (npm) against the real pubzub-server over its WebSocket endpoint: MQTT v5 with
// QoS 0/1/2, retained messages and a will. The server binary is built by `npm test` first.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import mqtt from 'mqtt';

const binary = new URL('../../target/debug/pubzub-server', import.meta.url).pathname;
let server;
let wsUrl;

before(async () => {
  server = spawn(binary, ['--http-port', '0', '--http-ip6', 'none', '--mqtt-port', 'none', '--mqtts-port', 'none'], {
    env: { ...process.env, RUST_LOG: 'info', NO_COLOR: '1', PUBZUB_DURABILITY: 'off' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: server.stdout });
  wsUrl = await new Promise((resolve, reject) => {
    server.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
    lines.on('line', (line) => {
      const m = line.match(/http listening on (\S+)/);
      if (m) resolve(`ws://${m[1]}/mqtt-transport`);
    });
  });
});

after(async () => {
  server.kill('SIGTERM');
  const [code] = await once(server, 'exit');
  assert.equal(code, 0, 'the server exits cleanly on SIGTERM');
});

/** Connects an MQTT.js v5 client and waits for CONNACK. */
async function connect(options = {}) {
  const client = mqtt.connect(wsUrl, { protocolVersion: 5, reconnectPeriod: 0, ...options });
  const [connack] = await once(client, 'connect');
  return { client, connack };
}

/** The next `count` messages as {topic, payload, packet}. */
function messages(client, count) {
  return new Promise((resolve) => {
    const got = [];
    const onMessage = (topic, payload, packet) => {
      got.push({ topic, payload: payload.toString(), packet });
      if (got.length === count) {
        client.off('message', onMessage);
        resolve(got);
      }
    };
    client.on('message', onMessage);
  });
}

test('connect v5 over WebSocket: assigned client id and routing id', async () => {
  const { client, connack } = await connect({ clientId: '' });
  assert.equal(connack.reasonCode, 0);
  assert.equal(connack.properties.assignedClientIdentifier.length, 20);
  assert.equal(connack.properties.userProperties['cotonic-routing-id'].length, 20);
  await client.endAsync();
});

test('topics sent again arrive by alias within the client\'s Topic Alias Maximum, and MQTT.js resolves them', async () => {
  const { client: sub } = await connect({ properties: { topicAliasMaximum: 2 } });
  const { client: pub } = await connect();
  await sub.subscribeAsync('public/js/alias/#', { qos: 1 });
  const topics = ['a', 'b', 'a', 'c', 'a', 'b'].map((t) => `public/js/alias/${t}`);
  const arriving = messages(sub, topics.length);
  for (const [i, topic] of topics.entries()) await pub.publishAsync(topic, String(i), { qos: 1 });
  const got = await arriving;
  assert.deepEqual(got.map((m) => [m.topic, m.payload]), topics.map((t, i) => [t, String(i)]));
  // a and b got aliases 1 and 2; c came after the maximum and goes by name.
  assert.deepEqual(got.map((m) => m.packet.properties?.topicAlias ?? null), [1, 2, 1, null, 1, 2]);
  await Promise.all([sub.endAsync(), pub.endAsync()]);
});

test('publish and receive QoS 0, 1 and 2', async () => {
  const { client: sub } = await connect();
  const { client: pub } = await connect();
  await sub.subscribeAsync('public/js/qos/#', { qos: 2 });
  const arriving = messages(sub, 3);
  for (const qos of [0, 1, 2]) {
    await pub.publishAsync(`public/js/qos/${qos}`, `q${qos}`, { qos, properties: { contentType: 'text/plain' } });
  }
  const got = await arriving;
  assert.deepEqual(got.map((m) => [m.topic, m.payload, m.packet.qos]), [
    ['public/js/qos/0', 'q0', 0],
    ['public/js/qos/1', 'q1', 1],
    ['public/js/qos/2', 'q2', 2],
  ]);
  assert.equal(got[2].packet.properties.contentType, 'text/plain');
  await Promise.all([sub.endAsync(), pub.endAsync()]);
});

test('retained messages reach later subscribers', async () => {
  const { client: pub } = await connect();
  await pub.publishAsync('public/js/retained', 'kept', { qos: 1, retain: true });
  const { client: sub } = await connect();
  const arriving = messages(sub, 1);
  await sub.subscribeAsync('public/js/retained', { qos: 1 });
  const [m] = await arriving;
  assert.equal(m.payload, 'kept');
  assert.equal(m.packet.retain, true);
  await Promise.all([sub.endAsync(), pub.endAsync()]);
});

test('a will fires when a client goes without DISCONNECT', async () => {
  const { client: watcher } = await connect();
  await watcher.subscribeAsync('public/js/will/#', { qos: 1 });
  const { client: doomed } = await connect({
    will: { topic: 'public/js/will/doomed', payload: Buffer.from('gone'), qos: 1, retain: false },
  });
  const arriving = messages(watcher, 1);
  doomed.end(true); // force: close the socket, no DISCONNECT
  const [m] = await arriving;
  assert.equal(m.payload, 'gone');
  await watcher.endAsync();
});
