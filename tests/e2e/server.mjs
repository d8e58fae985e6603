// Starts the real pubzub-server (debug build) on free loopback ports for a test file and
// stops it by PID afterwards.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));

/** Resolves with `{http, mqtt, stop()}` once both listeners are up. */
export async function startServer(...extraArgs) {
  const child = spawn(
    `${root}/target/debug/pubzub-server`,
    ["--http-port", "0", "--http-ip6", "none", "--mqtt-port", "0", "--mqtt-ip6", "none", "--mqtts-port", "none", ...extraArgs],
    { cwd: root, env: { ...process.env, RUST_LOG: "warn,pubzub_server=info", NO_COLOR: "1", PUBZUB_DURABILITY: "off" }, stdio: ["ignore", "pipe", "inherit"] },
  );
  const ports = {};
  // The last log lines, for a failing test to show what the server saw.
  const recent = [];
  await new Promise((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`pubzub-server exited with ${code}`)));
    createInterface({ input: child.stdout }).on("line", (line) => {
      recent.push(line);
      if (recent.length > 50) recent.shift();
      const m = line.match(/(http|mqtt) listening on 127\.0\.0\.1:(\d+)/);
      if (m) ports[m[1]] = Number(m[2]);
      if (ports.http && ports.mqtt) resolve();
    });
  });
  return {
    http: `http://127.0.0.1:${ports.http}`,
    mqttPort: ports.mqtt,
    ws: `ws://127.0.0.1:${ports.http}/mqtt-transport`,
    /**
     * Stops the process (SIGSTOP) for `ms`: no answers, not even PINGRESP. Resolves with the
     * time (`Date.now()`) it was woken.
     */
    async freeze(ms) {
      child.kill("SIGSTOP");
      await new Promise((r) => setTimeout(r, ms));
      child.kill("SIGCONT");
      return Date.now();
    },
    /** The server's last log lines (at most 50), oldest first. */
    recentLogs() {
      return recent.join("\n");
    },
    async stop() {
      child.kill("SIGCONT");
      child.kill("SIGTERM");
      await once(child, "exit");
    },
  };
}

/** Headless Debian Chromium, as this machine runs it. */
export const chromiumOptions = {
  executablePath: "/usr/bin/chromium",
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
};
