//! Load generator: the same workloads against pubzub-server and Mosquitto, each started here
//! as its own process on a free loopback port, measured in the same run, alternating rounds.
//!
//! Run it with `scripts/bench-server.sh` (it builds the server with the `server` profile). The
//! clients are raw sockets speaking MQTT v5 through pubzub-core's codec, identical for both
//! brokers, so the brokers are what differs. Prints one `RATIO` line per workload.
//!
//! Workloads:
//! - fan-out: one publisher, 10 subscribers of one topic, 50,000 QoS 0 messages of 100 bytes;
//!   deliveries per second (500,000 deliveries).
//! - pairs: 8 publishers each with its own subscriber, QoS 1 with 32 messages in flight per
//!   publisher, 10,000 messages each; deliveries per second.
//! - latency: one publisher at 2,000 QoS 1 messages per second to one subscriber; median and
//!   99th percentile from publish to delivery.
//! - memory: resident memory the broker grows by for 2,000 idle clients with one
//!   subscription each.
//! - stalled: a subscriber that stops reading while one publisher sends 60,000 QoS 0 messages
//!   of 100 bytes, one write each, with the default queue limits (1,000 messages held per
//!   subscriber); the broker's memory grown per message it held for that subscriber, and its
//!   resident memory 2 s after both clients have gone, against its baseline before they came.
//!   Then (same broker) the memory per QoS 1 message queued for an offline persistent session,
//!   1,000 messages each published after the previous one's PUBACK.

mod durable;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use pubzub_core::{
    Connect, Decoder, Packet, PacketId, ProtocolVersion, Publish, QoS, Subscribe, SubscribeFilter,
    SubscriptionOptions, TopicName, encode,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

const ROUNDS: usize = 3;

type Error = Box<dyn std::error::Error + Send + Sync>;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Pubzub,
    Mosquitto,
}

/// A broker process on a free port, killed on drop.
struct Broker {
    child: Child,
    addr: SocketAddr,
    kind: Kind,
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

impl Broker {
    /// With `queues` (the default limits: 1,000 messages held per subscriber), or unbounded.
    fn start(
        kind: Kind,
        server_bin: &std::path::Path,
        queues: Option<usize>,
    ) -> Result<Broker, Error> {
        Broker::start_with(kind, server_bin, queues, None)
    }

    /// [`start`](Broker::start) with a store: pubzub-server in this durability mode ("off",
    /// "batched", "sync"), Mosquitto with `persistence true` (whatever the mode).
    fn start_with(
        kind: Kind,
        server_bin: &std::path::Path,
        queues: Option<usize>,
        durability: Option<&str>,
    ) -> Result<Broker, Error> {
        let queue = queues.unwrap_or(0);
        let port = free_port()?;
        let dir =
            std::env::temp_dir().join(format!("pubzub-loadgen-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let command: (PathBuf, Vec<std::ffi::OsString>) = match kind {
            Kind::Pubzub => {
                // Limits that would throttle a benchmark are lifted, as for Mosquitto below.
                let config = dir.join("pubzub.toml");
                std::fs::write(
                    &config,
                    format!(
                        "[mqtt]\nport = {port}\nip6 = \"none\"\n[http]\nport = \"none\"\n\
                         [mqtts]\nport = \"none\"\n[limits]\nmax_publish_rate = 0\n\
                         max_outgoing_qos0 = {}\nmax_queued_messages = {}\nmax_connections = 100000\n\
                         [sites.default]\nallow_anonymous = true\n\
                         [[sites.default.rules]]\naction = \"allow\"\nfilter = \"#\"\n",
                        queues.unwrap_or(1_000_000),
                        queues.unwrap_or(1_000_000)
                    ),
                )?;
                let mut args = vec!["--config".into(), config.into_os_string()];
                if let Some(mode) = durability {
                    args.extend(["--data-dir".into(), dir.join("data").into_os_string()]);
                    args.extend(["--durability".into(), mode.into()]);
                }
                (server_bin.to_path_buf(), args)
            }
            Kind::Mosquitto => {
                let config = dir.join("mosquitto.conf");
                std::fs::write(
                    &config,
                    format!(
                        "listener {port} 127.0.0.1\nallow_anonymous true\n\
                         max_queued_messages {queue}\nmax_inflight_messages 0\n\
                         persistence {}\npersistence_location {}/\nlog_dest none\n\
                         user root\n",
                        durability.is_some(),
                        dir.display()
                    ),
                )?;
                (
                    "mosquitto".into(),
                    vec!["-c".into(), config.into_os_string()],
                )
            }
        };
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let child = spawn(&command)?;
        let broker = Broker {
            child,
            addr,
            kind,
            command,
            _dir: tempdir::Dir(dir),
        };
        broker.wait_until_listening()?;
        Ok(broker)
    }

    fn wait_until_listening(&self) -> Result<(), Error> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(self.addr).is_err() {
            if Instant::now() > deadline {
                return Err(format!("{:?} did not start", self.kind).into());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    }

    /// Stops the broker with SIGTERM (it saves what it keeps) and waits for it to exit.
    fn stop(&mut self) -> Result<(), Error> {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        self.child.wait()?;
        Ok(())
    }

    /// kill -9: nothing runs at exit.
    fn kill(&mut self) -> Result<(), Error> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// Starts it again on the same port and store; returns when it accepts connections.
    fn restart(&mut self) -> Result<(), Error> {
        self.child = spawn(&self.command)?;
        self.wait_until_listening()
    }

    /// CPU time the broker has used so far (user and system, all threads), in seconds.
    fn cpu_seconds(&self) -> Result<f64, Error> {
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
    fn rss_kib(&self) -> Result<u64, Error> {
        self.status_kib("VmRSS:")
    }

    /// Resident anonymous memory in KiB: the heap and stacks, without the program's code and
    /// the files it mapped, which stay resident once touched.
    fn anon_kib(&self) -> Result<u64, Error> {
        self.status_kib("RssAnon:")
    }

    fn status_kib(&self, field: &str) -> Result<u64, Error> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
            .ok_or_else(|| "no VmRSS".into())
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A raw MQTT v5 client.
struct Client {
    rx: OwnedReadHalf,
    tx: OwnedWriteHalf,
    buf: BytesMut,
    decoder: Decoder,
    out: BytesMut,
}

impl Client {
    async fn connect(addr: SocketAddr, id: &str) -> Result<Client, Error> {
        Client::over(TcpStream::connect(addr).await?, id).await
    }

    /// Connects over `stream`, opened with whatever socket options the workload needs.
    async fn over(stream: TcpStream, id: &str) -> Result<Client, Error> {
        Client::with(stream, id, None).await
    }

    /// Connects with clean start off and this session expiry, or with clean start and none.
    async fn with(stream: TcpStream, id: &str, expiry: Option<u32>) -> Result<Client, Error> {
        stream.set_nodelay(true)?;
        let (rx, tx) = stream.into_split();
        let mut decoder = Decoder::new(u32::MAX);
        decoder.set_version(ProtocolVersion::V5);
        let mut c = Client {
            rx,
            tx,
            buf: BytesMut::with_capacity(64 * 1024),
            decoder,
            out: BytesMut::new(),
        };
        let properties = pubzub_core::ConnectProperties {
            session_expiry_interval: expiry,
            ..Default::default()
        };
        c.queue(&Packet::Connect(Box::new(Connect {
            protocol: ProtocolVersion::V5,
            clean_start: expiry.is_none(),
            keep_alive: 0,
            client_id: id.into(),
            will: None,
            username: None,
            password: None,
            properties,
        })))?;
        c.flush().await?;
        match c.recv().await? {
            Packet::ConnAck(_) => Ok(c),
            other => Err(format!("expected CONNACK, got {other:?}").into()),
        }
    }

    fn queue(&mut self, p: &Packet) -> Result<(), Error> {
        encode(p, ProtocolVersion::V5, &mut self.out)?;
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), Error> {
        let bytes = self.out.split();
        self.tx.write_all(&bytes).await?;
        Ok(())
    }

    async fn recv(&mut self) -> Result<Packet, Error> {
        loop {
            if let Some(p) = self.decoder.decode(&mut self.buf)? {
                return Ok(p);
            }
            if self.rx.read_buf(&mut self.buf).await? == 0 {
                return Err("broker closed the connection".into());
            }
        }
    }

    async fn subscribe(&mut self, filter: &str, qos: QoS) -> Result<(), Error> {
        self.queue(&Packet::Subscribe(Subscribe {
            packet_id: PacketId::new(1).ok_or("id")?,
            properties: Default::default(),
            filters: vec![SubscribeFilter {
                filter: filter.try_into()?,
                options: SubscriptionOptions {
                    qos,
                    ..Default::default()
                },
            }],
        }))?;
        self.flush().await?;
        match self.recv().await? {
            Packet::SubAck(_) => Ok(()),
            other => Err(format!("expected SUBACK, got {other:?}").into()),
        }
    }
}

fn publish(topic: &TopicName, payload: Bytes, qos: QoS, id: u16) -> Packet {
    let mut p = Publish::new(topic.clone(), payload);
    p.qos = qos;
    p.packet_id = if qos == QoS::AtMostOnce {
        None
    } else {
        PacketId::new(id)
    };
    Packet::Publish(p)
}

/// Reads PUBLISH packets until `n` arrived, acknowledging QoS 1; returns their payloads' send
/// times (the first 8 bytes, nanoseconds since `epoch`) turned into latencies.
async fn receive(mut c: Client, n: usize, epoch: Instant) -> Result<Vec<u64>, Error> {
    let mut latencies = Vec::with_capacity(n);
    while latencies.len() < n {
        if let Packet::Publish(p) = c.recv().await? {
            let sent = u64::from_be_bytes(p.payload[..8].try_into()?);
            latencies.push((epoch.elapsed().as_nanos() as u64).saturating_sub(sent));
            if let Some(id) = p.packet_id {
                c.queue(&Packet::PubAck(pubzub_core::Ack::new(id)))?;
                if c.buf.is_empty() {
                    c.flush().await?;
                }
            }
        }
    }
    c.flush().await?;
    Ok(latencies)
}

fn stamped(epoch: Instant, size: usize) -> Bytes {
    let mut payload = vec![0x5A; size];
    payload[..8].copy_from_slice(&(epoch.elapsed().as_nanos() as u64).to_be_bytes());
    Bytes::from(payload)
}

/// Deliveries per second for one publisher and `subs` subscribers, QoS 0.
async fn fan_out(addr: SocketAddr, subs: usize, messages: usize) -> Result<f64, Error> {
    let epoch = Instant::now();
    let mut receivers = Vec::new();
    for i in 0..subs {
        let mut c = Client::connect(addr, &format!("fan-sub-{i}")).await?;
        c.subscribe("bench/fan", QoS::AtMostOnce).await?;
        receivers.push(tokio::spawn(receive(c, messages, epoch)));
    }
    let mut p = Client::connect(addr, "fan-pub").await?;
    let topic = TopicName::try_from("bench/fan")?;
    let start = Instant::now();
    for i in 0..messages {
        p.queue(&publish(&topic, stamped(epoch, 100), QoS::AtMostOnce, 0))?;
        if i % 64 == 63 {
            p.flush().await?;
        }
    }
    p.flush().await?;
    for r in receivers {
        r.await??;
    }
    Ok((subs * messages) as f64 / start.elapsed().as_secs_f64())
}

/// Deliveries per second for `pairs` publisher/subscriber pairs, QoS 1, `window` in flight.
async fn pairs(
    addr: SocketAddr,
    pairs: usize,
    messages: usize,
    window: usize,
    session_expiry: Option<u32>,
) -> Result<f64, Error> {
    let epoch = Instant::now();
    let mut tasks = Vec::new();
    let mut receivers = Vec::new();
    for i in 0..pairs {
        let stream = TcpStream::connect(addr).await?;
        let mut s = Client::with(stream, &format!("pair-sub-{i}"), session_expiry).await?;
        s.subscribe(&format!("bench/pair/{i}"), QoS::AtLeastOnce)
            .await?;
        receivers.push(tokio::spawn(receive(s, messages, epoch)));
    }
    let start = Instant::now();
    for i in 0..pairs {
        let mut p = Client::connect(addr, &format!("pair-pub-{i}")).await?;
        let topic = TopicName::try_from(format!("bench/pair/{i}"))?;
        tasks.push(tokio::spawn(async move {
            let mut in_flight = 0;
            let mut sent = 0usize;
            let mut acked = 0usize;
            while acked < messages {
                while in_flight < window && sent < messages {
                    let id = (sent % 60_000) as u16 + 1;
                    p.queue(&publish(&topic, stamped(epoch, 100), QoS::AtLeastOnce, id))?;
                    sent += 1;
                    in_flight += 1;
                }
                p.flush().await?;
                if let Packet::PubAck(_) = p.recv().await? {
                    acked += 1;
                    in_flight -= 1;
                }
            }
            Ok::<(), Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    for r in receivers {
        r.await??;
    }
    Ok((pairs * messages) as f64 / start.elapsed().as_secs_f64())
}

/// Median and 99th percentile latency (µs) at a steady `rate` of QoS 1 messages.
async fn latency(
    addr: SocketAddr,
    rate: u64,
    messages: usize,
    session_expiry: Option<u32>,
) -> Result<(f64, f64), Error> {
    let epoch = Instant::now();
    let mut s = Client::with(TcpStream::connect(addr).await?, "lat-sub", session_expiry).await?;
    s.subscribe("bench/lat", QoS::AtLeastOnce).await?;
    let receiver = tokio::spawn(receive(s, messages, epoch));
    let p = Client::connect(addr, "lat-pub").await?;
    let topic = TopicName::try_from("bench/lat")?;
    let mut tick = tokio::time::interval(Duration::from_nanos(1_000_000_000 / rate));
    let (mut rx, mut p_tx) = (p.rx, p.tx);
    // Drain PUBACKs in the background; the publisher only writes.
    let drain = tokio::spawn(async move {
        let mut sink = vec![0u8; 64 * 1024];
        while rx.read(&mut sink).await.map(|n| n > 0).unwrap_or(false) {}
    });
    let mut out = BytesMut::new();
    for i in 0..messages {
        tick.tick().await;
        let id = (i % 60_000) as u16 + 1;
        encode(
            &publish(&topic, stamped(epoch, 100), QoS::AtLeastOnce, id),
            ProtocolVersion::V5,
            &mut out,
        )?;
        p_tx.write_all(&out.split()).await?;
    }
    let mut lat = receiver.await??;
    drain.abort();
    lat.sort_unstable();
    let pct = |q: f64| lat[((lat.len() - 1) as f64 * q) as usize] as f64 / 1000.0;
    Ok((pct(0.5), pct(0.99)))
}

/// KiB of resident memory the broker grows by for `n` idle subscribed clients.
async fn memory(broker: &Broker, n: usize) -> Result<f64, Error> {
    let before = broker.rss_kib()?;
    let mut clients = Vec::with_capacity(n);
    for i in 0..n {
        let mut c = Client::connect(broker.addr, &format!("idle-{i}")).await?;
        c.subscribe(&format!("idle/{i}/+/state"), QoS::AtLeastOnce)
            .await?;
        clients.push(c);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = broker.rss_kib()?;
    drop(clients);
    Ok(after.saturating_sub(before) as f64)
}

/// Bytes waiting in the kernel on the loopback connection from `broker_port` to `client_port`:
/// the broker socket's send queue and the client socket's receive queue (/proc/net/tcp).
fn kernel_queued(broker_port: u16, client_port: u16) -> Result<u64, Error> {
    let table = std::fs::read_to_string("/proc/net/tcp")?;
    let mut bytes = 0;
    for line in table.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let port = |addr: &str| {
            addr.rsplit_once(':')
                .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
        };
        let (Some(local), Some(remote), Some((tx, rx))) =
            (port(f[1]), port(f[2]), f[4].split_once(':'))
        else {
            continue;
        };
        if (local, remote) == (broker_port, client_port) {
            bytes += u64::from_str_radix(tx, 16)?;
        } else if (local, remote) == (client_port, broker_port) {
            bytes += u64::from_str_radix(rx, 16)?;
        }
    }
    Ok(bytes)
}

/// A subscriber that stops reading while 60,000 QoS 0 messages of 100 bytes come for it, one
/// write each at about 20,000 a second (so each may arrive in a read of its own, as from most
/// clients): bytes of broker memory per message the broker held for the subscriber (what it
/// received afterwards less what waited in the kernel), and the broker's resident memory 2 s
/// after both clients have gone, relative to its baseline before they came.
async fn stalled(broker: &Broker) -> Result<(f64, f64), Error> {
    let baseline = broker.rss_kib()?;
    let anon_baseline = broker.anon_kib()?;
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_recv_buffer_size(4096)?;
    let stream = socket.connect(broker.addr).await?;
    let client_port = stream.local_addr()?.port();
    let mut sub = Client::over(stream, "stalled-sub").await?;
    sub.subscribe("bench/stalled", QoS::AtMostOnce).await?;
    let mut publisher = Client::connect(broker.addr, "stalled-pub").await?;
    let topic = TopicName::try_from("bench/stalled")?;
    let message = publish(&topic, Bytes::from(vec![0x5Au8; 100]), QoS::AtMostOnce, 0);
    let wire_len = pubzub_core::encoded_len(&message, Default::default())? as u64;
    // More than the kernel's socket buffers hold (a few MB), so that the broker must hold some.
    let mut tick = tokio::time::interval(Duration::from_micros(50));
    for _ in 0..60_000 {
        tick.tick().await;
        publisher.queue(&message)?;
        publisher.flush().await?;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let full = broker.rss_kib()?;
    let in_kernel = kernel_queued(broker.addr.port(), client_port)? / wire_len;
    // Now read everything: until 1 s of quiet.
    let mut received = 0u64;
    while let Ok(packet) = tokio::time::timeout(Duration::from_secs(1), sub.recv()).await {
        if let Packet::Publish(_) = packet? {
            received += 1;
        }
    }
    drop((sub, publisher));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = broker.rss_kib()?;
    let anon_after = broker.anon_kib()?;
    let held = received.saturating_sub(in_kernel).max(1);
    eprintln!(
        "  stalled: {received} received, {in_kernel} of them waited in the kernel, {held} in the \
         broker; RSS {baseline} KiB before, {full} KiB full, {after} KiB after; anonymous \
         {anon_baseline} KiB before, {anon_after} KiB after"
    );
    let per_message = full.saturating_sub(baseline) as f64 * 1024.0 / held as f64;
    Ok((per_message, after as f64 / baseline as f64))
}

/// A persistent QoS 1 subscriber that went away while 1,000 QoS 1 messages of 100 bytes came
/// for it, each published on its own after the previous one's PUBACK (so each arrives in a
/// read of its own): bytes of broker memory per message queued for the session.
async fn offline(broker: &Broker) -> Result<f64, Error> {
    let connect = || async { TcpStream::connect(broker.addr).await };
    let mut sub = Client::with(connect().await?, "offline-sub", Some(300)).await?;
    sub.subscribe("bench/offline", QoS::AtLeastOnce).await?;
    drop(sub);
    let mut publisher = Client::connect(broker.addr, "offline-pub").await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = broker.rss_kib()?;
    let topic = TopicName::try_from("bench/offline")?;
    for i in 0..1_000 {
        let payload = Bytes::from(vec![0x5Au8; 100]);
        publisher.queue(&publish(&topic, payload, QoS::AtLeastOnce, i % 60_000 + 1))?;
        publisher.flush().await?;
        while !matches!(publisher.recv().await?, Packet::PubAck(_)) {}
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = broker.rss_kib()?;
    Ok(after.saturating_sub(before) as f64 * 1024.0 / 1_000.0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Prints one RATIO line from both brokers' rounds; `higher_is_better` says which way wins.
fn report(what: &str, unit: &str, ours: Vec<f64>, theirs: Vec<f64>, higher_is_better: bool) {
    if ours.is_empty() {
        return;
    }
    let (ours, theirs) = (median(ours), median(theirs));
    let (ratio, word) = if higher_is_better {
        (ours / theirs, "the throughput")
    } else {
        (theirs / ours, "better (lower)")
    };
    let num = |x: f64| {
        if x.abs() < 10.0 {
            format!("{x:.2}")
        } else {
            format!("{x:.0}")
        }
    };
    println!(
        "RATIO {what}: pubzub-server {} {unit}, mosquitto {} {unit}: {ratio:.2}x {word}",
        num(ours),
        num(theirs)
    );
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let server_bin = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .ok_or("usage: loadgen <path to pubzub-server>")?;
    // LOADGEN_ONLY=memory (or fan-out, pairs, latency, stalled, durable) runs one workload.
    let only = std::env::var("LOADGEN_ONLY").ok();

    let wants = |name: &str| only.as_deref().is_none_or(|o| o == name);
    let kinds = [Kind::Pubzub, Kind::Mosquitto];
    let mut fan = [Vec::new(), Vec::new()];
    let mut pair = [Vec::new(), Vec::new()];
    let mut p50 = [Vec::new(), Vec::new()];
    let mut p99 = [Vec::new(), Vec::new()];
    let mut mem = [Vec::new(), Vec::new()];
    let mut held = [Vec::new(), Vec::new()];
    let mut left = [Vec::new(), Vec::new()];
    let mut queued = [Vec::new(), Vec::new()];
    for round in 0..ROUNDS {
        // Alternate which broker goes first, so a slow phase of the machine hits both.
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for k in order {
            let broker = Broker::start(kinds[k], &server_bin, None)?;
            if wants("fan-out") {
                fan[k].push(fan_out(broker.addr, 10, 50_000).await?);
            }
            if wants("pairs") {
                pair[k].push(pairs(broker.addr, 8, 10_000, 32, None).await?);
            }
            if wants("latency") {
                let (a, b) = latency(broker.addr, 2_000, 4_000, None).await?;
                p50[k].push(a);
                p99[k].push(b);
            }
            if wants("memory") {
                mem[k].push(memory(&broker, 2_000).await?);
            }
            if wants("stalled") {
                // A fresh broker with the default queue limits (1,000 messages held per
                // subscriber, the rest dropped): the baseline is its memory before any client.
                drop(broker);
                let broker = Broker::start(kinds[k], &server_bin, Some(1_000))?;
                let (per_message, after) = stalled(&broker).await?;
                held[k].push(per_message);
                left[k].push(after);
                if wants("stalled") {
                    queued[k].push(offline(&broker).await?);
                }
            }
            let last = |v: &Vec<f64>| v.last().map_or("-".to_string(), |x| format!("{x:.0}"));
            eprintln!(
                "round {round} {:?}: fan-out {}/s, pairs {}/s, latency p50 {} µs p99 {} µs, memory {} KiB",
                kinds[k],
                last(&fan[k]),
                last(&pair[k]),
                last(&p50[k]),
                last(&p99[k]),
                last(&mem[k]),
            );
        }
    }
    let [fan_ours, fan_theirs] = fan;
    let [pair_ours, pair_theirs] = pair;
    let [p50_ours, p50_theirs] = p50;
    let [p99_ours, p99_theirs] = p99;
    let [mem_ours, mem_theirs] = mem;
    let [held_ours, held_theirs] = held;
    let [left_ours, left_theirs] = left;
    let [queued_ours, queued_theirs] = queued;
    report(
        "fan-out, QoS 0, 1 publisher to 10 subscribers",
        "deliveries/s",
        fan_ours,
        fan_theirs,
        true,
    );
    report(
        "8 publisher/subscriber pairs, QoS 1, 32 in flight",
        "deliveries/s",
        pair_ours,
        pair_theirs,
        true,
    );
    report(
        "latency median at 2000 QoS 1 messages/s",
        "µs",
        p50_ours,
        p50_theirs,
        false,
    );
    report(
        "latency 99th percentile at 2000 QoS 1 messages/s",
        "µs",
        p99_ours,
        p99_theirs,
        false,
    );
    report(
        "memory grown for 2000 idle subscribed clients",
        "KiB",
        mem_ours,
        mem_theirs,
        false,
    );
    report(
        "memory per 100-byte message held for a stalled subscriber",
        "bytes",
        held_ours,
        held_theirs,
        false,
    );
    report(
        "memory per 100-byte QoS 1 message queued for an offline session",
        "bytes",
        queued_ours,
        queued_theirs,
        false,
    );
    report(
        "resident memory 2 s after the stalled clients left, per baseline",
        "x",
        left_ours,
        left_theirs,
        false,
    );
    if wants("durable") {
        durable::run(&server_bin, durable::ROUNDS).await?;
    }
    Ok(())
}
