//! The `pubzub-server` binary as a child process: its addresses read from its log, every
//! later log line kept, signals.

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

pub struct Running {
    pub child: Child,
    pub mqtt: SocketAddr,
    pub http: SocketAddr,
    /// The first line the server logged.
    pub first_line: String,
    /// Every line up to the listeners'.
    pub early: Vec<String>,
    /// Every line after those, as it comes.
    pub logs: Arc<Mutex<Vec<String>>>,
}

impl Running {
    /// Waits until a logged line contains every one of `parts`, and returns it.
    pub async fn log_line(&self, parts: &[&str]) -> String {
        let deadline = tokio::time::Instant::now() + super::WAIT;
        loop {
            let found = self
                .logs
                .lock()
                .unwrap()
                .iter()
                .find(|l| parts.iter().all(|p| l.contains(p)))
                .cloned();
            if let Some(line) = found {
                return line;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no line with {parts:?} in {:?}",
                self.logs.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends the server a signal (`-HUP`, `-TERM`).
    pub fn signal(&self, signal: &str) {
        let pid = self.child.id().expect("running");
        let status = std::process::Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

/// Free loopback ports for HTTP and MQTT, IPv4 only, no TLS.
pub const LOOPBACK_PORTS: [&str; 10] = [
    "--http-port",
    "0",
    "--http-ip6",
    "none",
    "--mqtt-port",
    "0",
    "--mqtt-ip6",
    "none",
    "--mqtts-port",
    "none",
];

/// Starts the binary and reads the addresses it logs.
pub async fn run(args: &[&str], env: &[(&str, &str)]) -> Running {
    run_in(None, args, env).await
}

/// [`run`] in the working directory `cwd`.
pub async fn run_in(cwd: Option<&std::path::Path>, args: &[&str], env: &[(&str, &str)]) -> Running {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pubzub-server"));
    if let Some(dir) = cwd {
        command.current_dir(dir);
    }
    let mut child = command
        .args(args)
        // Without --config the binary keeps a store in the repository: tests run at once and
        // keep theirs in memory unless they ask for one.
        .env("PUBZUB_DURABILITY", "off")
        .envs(env.iter().copied())
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let (mut mqtt, mut http) = (None, None);
    let mut first_line = None;
    let mut early = Vec::new();
    while mqtt.is_none() || http.is_none() {
        let line = tokio::time::timeout(super::WAIT, lines.next_line())
            .await
            .expect("logs in time")
            .expect("readable")
            .expect("a line before exit");
        first_line.get_or_insert_with(|| line.clone());
        early.push(line.clone());
        let addr = |name: &str| {
            line.split_once(&format!("{name} listening on "))
                .and_then(|(_, a)| a.trim().parse::<SocketAddr>().ok())
        };
        mqtt = mqtt.or(addr("mqtt"));
        http = http.or(addr("http"));
    }
    let logs = Arc::new(Mutex::new(Vec::new()));
    let collected = logs.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            collected.lock().unwrap().push(line);
        }
    });
    Running {
        child,
        mqtt: mqtt.expect("mqtt address"),
        http: http.expect("http address"),
        first_line: first_line.unwrap_or_default(),
        early,
        logs,
    }
}

/// A plain HTTP/1.1 GET; returns the status line and the body.
pub async fn get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).await.unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (
        head.lines().next().unwrap_or("").to_owned(),
        body.to_owned(),
    )
}

pub fn sigterm(child: &Child) {
    let pid = child.id().expect("running");
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}
