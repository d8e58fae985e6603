// Access control and sites over the WebSocket endpoint with MQTT.js: anonymous pages, a page
// logging in, the Host header selecting a site. The server runs with a configuration file
// (so anonymous MQTT over TCP is off, pages over WebSocket stay welcome).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';

const binary = new URL('../../target/debug/pubzub-server', import.meta.url).pathname;
let server;
let port;

const hash = (password) => execFileSync(binary, ['hash-password'], { input: `${password}\n` }).toString().trim();

before(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pubzub-acl-'));
  const config = join(dir, 'pubzub.toml');
  writeFileSync(config, `
[http]
port = 0
ip6 = "none"
[mqtt]
port = "none"
[mqtts]
port = "none"

[sites.default]
hostnames = ["127.0.0.1"]
[[sites.default.users]]
name = "alice"
password_hash = "${hash('pw-alice')}"

[[sites.default.rules]]
action = "allow"
filter = "sensors/%u/#"
who = "authenticated"
[[sites.default.rules]]
action = "allow"
access = "publish"
filter = "pages/%c/status"

[sites.shop]
hostnames = ["shop.localhost"]
`);
  server = spawn(binary, ['--config', config], {
    env: { ...process.env, RUST_LOG: 'info', NO_COLOR: '1', PUBZUB_DURABILITY: 'off' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: server.stdout });
  port = await new Promise((resolve, reject) => {
    server.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
    lines.on('line', (line) => {
      const m = line.match(/http listening on \S+:(\d+)/);
      if (m) resolve(Number(m[1]));
    });
  });
});

after(async () => {
  server.kill('SIGTERM');
  await once(server, 'exit');
});

async function connect(options = {}, host = '127.0.0.1') {
  const client = mqtt.connect(`ws://127.0.0.1:${port}/mqtt-transport`, {
    protocolVersion: 5,
    reconnectPeriod: 0,
    // The Host header selects the site, as a browser's would.
    wsOptions: { headers: { Host: `${host}:${port}` } },
    ...options,
  });
  const [connack] = await once(client, 'connect');
  return { client, connack };
}

/** The SUBACK codes for `filters` (MQTT.js rejects when any of them is a refusal). */
async function granted(client, filters) {
  try {
    return (await client.subscribeAsync(filters, { qos: 1 })).map((g) => g.qos);
  } catch (e) {
    if (e.packet?.granted) return e.packet.granted;
    throw e;
  }
}

test('an anonymous page may use public/ but not private topics', async () => {
  const { client } = await connect();
  assert.deepEqual(await granted(client, ['public/#', 'private/#', '#']), [1, 0x87, 0x87]);
  await assert.rejects(client.publishAsync('private/x', 'x', { qos: 1 }), /Not authorized/i);
  await client.endAsync();
});

test('built-in rules for pages: test/, reply/call-, their own bridge and control topics', async () => {
  const { client, connack } = await connect({ clientId: '' }); // the server assigns one
  const me = connack.properties.assignedClientIdentifier;
  assert.deepEqual(
    await granted(client, ['test/#', 'reply/call-abc', `bridge/${me}/#`, '~client/x', 'bridge/someone/#', 'user/anonymous/#']),
    [1, 1, 1, 1, 0x87, 0x87],
  );
  await client.publishAsync(`$client/${me}/will/w1`, JSON.stringify({ topic: 'public/gone', payload: 'bye' }), { qos: 1 });
  await assert.rejects(client.publishAsync('$client/someone/will/w1', '{}', { qos: 1 }), /Not authorized/i);
  await client.publishAsync(`pages/${me}/status`, 'up', { qos: 1 }); // configured rule with %c
  await assert.rejects(client.publishAsync('pages/other/status', 'up', { qos: 1 }), /Not authorized/i);
  await client.endAsync();
});

test('a page that logs in gets its user topics; a wrong password is refused', async () => {
  const { client } = await connect({ username: 'alice', password: 'pw-alice' });
  assert.deepEqual(
    await granted(client, ['user/alice/#', 'user/bob/#', '~user/inbox', 'user', 'sensors/alice/#', 'sensors/bob/#']),
    [1, 0x87, 1, 1, 1, 0x87],
  );
  await client.endAsync();

  const refused = mqtt.connect(`ws://127.0.0.1:${port}/mqtt-transport`, {
    protocolVersion: 5, reconnectPeriod: 0, username: 'alice', password: 'wrong',
  });
  const [error] = await once(refused, 'error');
  assert.equal(error.code, 0x86);
  refused.end(true);
});

test('the Host header picks the site: sites do not share topics', async () => {
  const { client: home } = await connect();
  const { client: shop } = await connect({}, 'shop.localhost');
  await home.subscribeAsync('public/news', { qos: 1 });
  await shop.subscribeAsync('public/news', { qos: 1 });
  const heard = { home: [], shop: [] };
  home.on('message', (_t, m) => heard.home.push(m.toString()));
  shop.on('message', (_t, m) => heard.shop.push(m.toString()));
  await shop.publishAsync('public/news', 'shop only', { qos: 1 });
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(heard, { home: [], shop: ['shop only'] });
  await Promise.all([home.endAsync(), shop.endAsync()]);
});
