// Runs pubzub-server (with a configuration file: deny by default, one user) for the browser
// tests and lets them break it on purpose:
//   GET /restart      stop the server and start a new one on the same port (answers when up)
//   GET /stop         stop the server (answers when it is gone)
//   GET /start        start it again on the same port
//   GET /freeze?ms=N  stop the process (SIGSTOP) for N ms: no answers, not even PINGRESP
//   GET /observed     the topics an MQTT.js observer saw on public/restart/# and
//                     public/offline/#, in order
//   WS  /split        a WebSocket proxy to the server that sends what the server sends one
//                     byte per WebSocket message (every packet split at every boundary)
//   WS  /pack         the same, collecting what the server sends for 20 ms into one message
//                     (several packets, and parts of packets, per message)
//   GET /pkg/...      the built npm package (pkg-js), and /test/... the files of tests/page:
//                     the browser tests' page is served from here
// /restart and /start answer once the observer is subscribed again.
// Prints one line, `ws=<url> control=<url>`, once everything is up. Usage:
//   node tests/support/server-control.mjs <path to pubzub-server>
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import http from 'node:http';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import mqtt from 'mqtt';
import WebSocket, { WebSocketServer } from 'ws';

const binary = process.argv[2];
let child;
let port = 0;

// A configuration file: deny by default, and one user (alice, password "pw-alice"), so that
// the tests see refused logins and topics; anonymous pages are allowed, as by default.
const dir = mkdtempSync(join(tmpdir(), 'pubzub-control-'));
const config = join(dir, 'pubzub.toml');
const hash = execFileSync(binary, ['hash-password'], { input: 'pw-alice\n' }).toString().trim();
writeFileSync(config, `[sites.default]\nusers = [{ name = "alice", password_hash = "${hash}" }]\n`);

async function startServer() {
  child = spawn(binary, ['--config', config, '--http-port', String(port), '--http-ip6', 'none', '--mqtt-port', 'none', '--mqtts-port', 'none'], {
    env: { ...process.env, RUST_LOG: 'warn,pubzub_server=info', NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout });
  port = await new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`pubzub-server exited with ${code}`)));
    lines.on('line', (line) => {
      const m = line.match(/http listening on 127\.0\.0\.1:(\d+)/);
      if (m) resolve(Number(m[1]));
    });
  });
}

async function stopServer() {
  child.kill('SIGCONT'); // in case it is frozen
  child.kill('SIGTERM');
  await once(child, 'exit');
}

await startServer();
const wsUrl = `ws://127.0.0.1:${port}/mqtt-transport`;

// The observer reconnects every 50 ms; a (re)started server is reported up only once the
// observer is subscribed to it, so it sees everything a page sends afterwards.
const observed = [];
const observer = mqtt.connect(wsUrl, { protocolVersion: 5, reconnectPeriod: 50, resubscribe: false });
let subscribed;
const observerReady = () => new Promise((resolve) => { subscribed = resolve; });
let ready = observerReady();
observer.on('connect', () =>
  observer.subscribe(['public/restart/#', 'public/offline/#'], { qos: 1 }, () => subscribed()));
observer.on('message', (topic) => observed.push(topic));
observer.on('error', () => {});
await ready;

async function startAndObserve() {
  ready = observerReady();
  await startServer();
  await ready;
}

const root = fileURLToPath(new URL('../..', import.meta.url));
const served = { '/pkg/': 'pkg-js/', '/test/': 'tests/page/' };
const types = { '.js': 'text/javascript', '.html': 'text/html', '.wasm': 'application/wasm' };

/** The static files of the browser tests' page, or false for another path. */
async function serveFile(pathname, res) {
  const prefix = Object.keys(served).find((p) => pathname.startsWith(p));
  if (!prefix) return false;
  const file = normalize(`${root}${served[prefix]}${pathname.slice(prefix.length)}`);
  try {
    const body = await readFile(file);
    res.writeHead(200, { 'Content-Type': types[extname(file)] ?? 'application/octet-stream' });
    res.end(body);
  } catch {
    res.writeHead(404).end();
  }
  return true;
}

const control = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://x');
  if (await serveFile(url.pathname, res)) return;
  res.setHeader('Access-Control-Allow-Origin', '*');
  res.setHeader('Content-Type', 'application/json');
  if (url.pathname === '/restart') {
    await stopServer();
    await startAndObserve();
    res.end('{"restarted":true}');
  } else if (url.pathname === '/stop') {
    await stopServer();
    res.end('{"stopped":true}');
  } else if (url.pathname === '/start') {
    await startAndObserve();
    res.end('{"started":true}');
  } else if (url.pathname === '/freeze') {
    const ms = Number(url.searchParams.get('ms') ?? 3000);
    child.kill('SIGSTOP');
    setTimeout(() => child.kill('SIGCONT'), ms);
    res.end('{"frozen":true}');
  } else if (url.pathname === '/observed') {
    res.end(JSON.stringify(observed));
  } else {
    res.statusCode = 404;
    res.end('{}');
  }
});
// The splitting and packing proxies: the page's bytes go to the server as they come.
const proxies = new WebSocketServer({ noServer: true, handleProtocols: () => 'mqtt' });
control.on('upgrade', (req, socket, head) => {
  const mode = new URL(req.url, 'http://x').pathname;
  if (mode !== '/split' && mode !== '/pack') return socket.destroy();
  proxies.handleUpgrade(req, socket, head, (page) => proxy(page, mode));
});
function proxy(page, mode) {
  const server = new WebSocket(wsUrl, 'mqtt');
  const early = [];
  let pending = [];
  let flush;
  server.on('open', () => { for (const m of early.splice(0)) server.send(m); });
  page.on('message', (m) => (server.readyState === WebSocket.OPEN ? server.send(m) : early.push(m)));
  server.on('message', (m) => {
    if (page.readyState !== WebSocket.OPEN) return;
    if (mode === '/split') {
      for (const byte of m) page.send(Buffer.from([byte]));
    } else {
      pending.push(m);
      flush ??= setTimeout(() => {
        flush = undefined;
        if (page.readyState === WebSocket.OPEN) page.send(Buffer.concat(pending.splice(0)));
      }, 20);
    }
  });
  const end = () => { page.close(); server.close(); };
  page.on('close', end);
  server.on('close', end);
  page.on('error', () => {});
  server.on('error', () => {});
}

control.listen(0, '127.0.0.1');
await once(control, 'listening');
console.log(`ws=${wsUrl} control=http://127.0.0.1:${control.address().port}`);

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, async () => {
    observer.end(true);
    control.close();
    await stopServer();
    rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  });
}
