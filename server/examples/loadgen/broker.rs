//! The brokers under test, each started as its own process on free loopback ports, with the
//! limits that would throttle a benchmark lifted: pubzub-server, Mosquitto (Debian), rumqttd
//! (`cargo install rumqttd`) and nats-server (Debian, its MQTT listener).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pubzub_core::ProtocolVersion;

use super::Error;
use super::client::Endpoint;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Pubzub,
    Mosquitto,
    Rumqttd,
    Nats,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Pubzub => "pubzub-server",
            Kind::Mosquitto => "mosquitto",
            Kind::Rumqttd => "rumqttd",
            Kind::Nats => "nats-server",
        }
    }
}

/// Where the brokers' programs are.
#[derive(Debug, Clone)]
pub struct Programs {
    pub pubzub: PathBuf,
    /// `None`: not installed, its rows are left out.
    pub rumqttd: Option<PathBuf>,
    pub nats: Option<PathBuf>,
}

/// How to start one: the store (pubzub-server's `durability`, Mosquitto's `persistence`) and
/// the per-subscriber queue limit (`None`: unbounded).
#[derive(Debug, Clone, Copy, Default)]
pub struct Options<'a> {
    pub durability: Option<&'a str>,
    pub queues: Option<usize>,
    /// Also a WebSocket listener (pubzub-server and Mosquitto).
    pub websocket: bool,
}

/// A broker process on free ports, killed on drop.
pub struct Broker {
    child: Child,
    pub kind: Kind,
    /// MQTT 3.1.1 over TCP (and MQTT 5, on the same port, except for rumqttd).
    pub addr: SocketAddr,
    v5: Option<SocketAddr>,
    ws: Option<(SocketAddr, &'static str)>,
    /// How to start it (again, on the same store).
    command: (PathBuf, Vec<std::ffi::OsString>),
    _dir: tempdir::Dir,
}

mod tempdir {
    /// A scratch folder removed on drop (the example needs no dependency for it).
    pub struct Dir(pub std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn spawn((program, args): &(PathBuf, Vec<std::ffi::OsString>)) -> Result<Child, Error> {
    Ok(Command::new(program)
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?)
}

fn free_port() -> Result<u16, Error> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn local(port: u16) -> SocketAddr {
    ([127, 0, 0, 1], port).into()
}

impl Broker {
    pub fn start(kind: Kind, programs: &Programs, options: Options) -> Result<Broker, Error> {
        let port = free_port()?;
        let dir =
            std::env::temp_dir().join(format!("pubzub-loadgen-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let queue = options.queues.unwrap_or(1_000_000);
        let (mut v5, mut ws) = (Some(local(port)), None);
        let command: (PathBuf, Vec<std::ffi::OsString>) = match kind {
            Kind::Pubzub => {
                let http = if options.websocket {
                    let p = free_port()?;
                    ws = Some((local(p), "/mqtt-transport"));
                    format!("port = {p}\nip6 = \"none\"\n")
                } else {
                    "port = \"none\"\n".to_string()
                };
                let config = dir.join("pubzub.toml");
                std::fs::write(
                    &config,
                    format!(
                        "[mqtt]\nport = {port}\nip6 = \"none\"\n[http]\n{http}\
                         [mqtts]\nport = \"none\"\n[limits]\nmax_publish_rate = 0\n\
                         max_outgoing_qos0 = {queue}\nmax_queued_messages = {queue}\n\
                         max_connections = 100000\n\
                         [sites.default]\nallow_anonymous = true\n\
                         [[sites.default.rules]]\naction = \"allow\"\nfilter = \"#\"\n",
                    ),
                )?;
                let mut args = vec!["--config".into(), config.into_os_string()];
                if let Some(mode) = options.durability {
                    args.extend(["--data-dir".into(), dir.join("data").into_os_string()]);
                    args.extend(["--durability".into(), mode.into()]);
                }
                (programs.pubzub.clone(), args)
            }
            Kind::Mosquitto => {
                // Debian's 2.0.11 refuses to start with a WebSocket listener alone, and binds
                // it to every address.
                let websocket = if options.websocket {
                    let p = free_port()?;
                    ws = Some((local(p), "/mqtt"));
                    format!("listener {p}\nprotocol websockets\nsocket_domain ipv4\n")
                } else {
                    String::new()
                };
                let config = dir.join("mosquitto.conf");
                std::fs::write(
                    &config,
                    format!(
                        "listener {port} 127.0.0.1\n{websocket}allow_anonymous true\n\
                         max_queued_messages {}\nmax_inflight_messages 0\n\
                         persistence {}\npersistence_location {}/\nlog_dest none\n\
                         user root\n",
                        options.queues.unwrap_or(0),
                        options.durability.is_some(),
                        dir.display()
                    ),
                )?;
                (
                    "mosquitto".into(),
                    vec!["-c".into(), config.into_os_string()],
                )
            }
            Kind::Rumqttd => {
                let program = programs.rumqttd.clone().ok_or("rumqttd is not installed")?;
                let p5 = free_port()?;
                v5 = Some(local(p5));
                // Its defaults pause 1 ms between accepted connections and cap in-flight
                // messages at 100; both lifted.
                let listener = |name: &str, p: u16| {
                    format!(
                        "[{name}.1]\nname = \"{name}-1\"\nlisten = \"127.0.0.1:{p}\"\n\
                         next_connection_delay_ms = 0\n[{name}.1.connections]\n\
                         connection_timeout_ms = 60000\nmax_payload_size = 1048576\n\
                         max_inflight_count = 65535\ndynamic_filters = true\n"
                    )
                };
                let config = dir.join("rumqttd.toml");
                std::fs::write(
                    &config,
                    format!(
                        "id = 0\n[router]\nid = 0\nmax_connections = 100000\n\
                         max_outgoing_packet_count = 1000\nmax_segment_size = 104857600\n\
                         max_segment_count = 10\n{}{}",
                        listener("v4", port),
                        listener("v5", p5)
                    ),
                )?;
                (program, vec!["-c".into(), config.into_os_string()])
            }
            Kind::Nats => {
                let program = programs
                    .nats
                    .clone()
                    .ok_or("nats-server is not installed")?;
                v5 = None;
                // The MQTT listener needs a server name and JetStream.
                let config = dir.join("nats.conf");
                std::fs::write(
                    &config,
                    format!(
                        "listen: 127.0.0.1:{}\nserver_name: loadgen\n\
                         max_connections: 100000\n\
                         jetstream {{ store_dir: \"{}\" }}\nmqtt {{ listen: 127.0.0.1:{port} }}\n",
                        free_port()?,
                        dir.join("js").display()
                    ),
                )?;
                (program, vec!["-c".into(), config.into_os_string()])
            }
        };
        let child = spawn(&command)?;
        let broker = Broker {
            child,
            kind,
            addr: local(port),
            v5,
            ws,
            command,
            _dir: tempdir::Dir(dir),
        };
        broker.wait_until_listening()?;
        Ok(broker)
    }

    /// How to reach it with this MQTT version, over TCP or WebSocket; `None` where it does
    /// not speak that.
    pub fn endpoint(&self, version: ProtocolVersion, websocket: bool) -> Option<Endpoint> {
        if websocket {
            let (addr, path) = self.ws?;
            return Some(Endpoint {
                addr,
                version,
                ws_path: Some(path),
            });
        }
        match version {
            ProtocolVersion::V311 => Some(Endpoint::tcp(self.addr, version)),
            ProtocolVersion::V5 => Some(Endpoint::tcp(self.v5?, version)),
        }
    }

    fn wait_until_listening(&self) -> Result<(), Error> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let addrs = [Some(self.addr), self.v5, self.ws.map(|(a, _)| a)];
        for addr in addrs.into_iter().flatten() {
            while std::net::TcpStream::connect(addr).is_err() {
                if Instant::now() > deadline {
                    return Err(format!("{} did not start", self.kind.name()).into());
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        Ok(())
    }

    /// Stops the broker with SIGTERM (it saves what it keeps) and waits for it to exit.
    pub fn stop(&mut self) -> Result<(), Error> {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        self.child.wait()?;
        Ok(())
    }

    /// kill -9: nothing runs at exit.
    pub fn kill(&mut self) -> Result<(), Error> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// Starts it again on the same ports and store; returns when it accepts connections.
    pub fn restart(&mut self) -> Result<(), Error> {
        self.child = spawn(&self.command)?;
        self.wait_until_listening()
    }

    /// CPU time the broker has used so far (user and system, all threads), in seconds.
    pub fn cpu_seconds(&self) -> Result<f64, Error> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))?;
        // Fields after the command name (which may hold spaces) in parentheses; utime and
        // stime are the 14th and 15th fields of the line, in clock ticks of 1/100 s.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok());
        match (ticks(11), ticks(12)) {
            (Some(user), Some(system)) => Ok((user + system) as f64 / 100.0),
            _ => Err("no CPU times in /proc/<pid>/stat".into()),
        }
    }

    /// Resident memory in KiB, from /proc.
    pub fn rss_kib(&self) -> Result<u64, Error> {
        self.status_kib("VmRSS:")
    }

    /// Resident anonymous memory in KiB: the heap and stacks, without the program's code and
    /// the files it mapped, which stay resident once touched.
    pub fn anon_kib(&self) -> Result<u64, Error> {
        self.status_kib("RssAnon:")
    }

    fn status_kib(&self, field: &str) -> Result<u64, Error> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
            .ok_or_else(|| format!("no {field} in /proc/<pid>/status").into())
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A program on the PATH, or `None`.
pub fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.is_file())
}
