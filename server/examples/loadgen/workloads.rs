//! The workloads, the same bytes against every broker: throughput (fan-out, fan-in, pairs),
//! latency at a steady rate, connections per second and memory per idle client. Every
//! delivery is counted: a throughput run that lost messages says how many.

use std::time::{Duration, Instant};

use bytes::Bytes;
use pubzub_core::{Ack, Packet, QoS, TopicName};

use super::Error;
use super::broker::Broker;
use super::client::{Client, Endpoint, publish};

/// How long a subscriber waits for the next message before it counts the rest as lost.
const QUIET: Duration = Duration::from_secs(3);

/// What a throughput run measured.
#[derive(Debug, Clone, Copy)]
pub struct Throughput {
    /// Deliveries per second, from the first publication to the last delivery.
    pub per_second: f64,
    /// Deliveries that never came (QoS 0 may be dropped by a broker under load).
    pub lost: usize,
    /// Deliveries that came.
    pub delivered: usize,
}

/// Latency percentiles in µs from publish to delivery.
#[derive(Debug, Clone, Copy)]
pub struct Latency {
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
    pub lost: usize,
}

/// A payload of `size` bytes that starts with its send time (ns since `epoch`).
pub fn stamped(epoch: Instant, size: usize) -> Bytes {
    let mut payload = vec![0x5A; size];
    payload[..8].copy_from_slice(&(epoch.elapsed().as_nanos() as u64).to_be_bytes());
    Bytes::from(payload)
}

/// Reads PUBLISH packets until `n` arrived or none came for [`QUIET`], acknowledging QoS 1;
/// returns their latencies (from the send time in the first 8 bytes of each payload).
pub async fn receive(mut c: Client, n: usize, epoch: Instant) -> Result<Vec<u64>, Error> {
    let mut latencies = Vec::with_capacity(n);
    while latencies.len() < n {
        let Some(packet) = c.reader.recv_within(QUIET).await? else {
            break;
        };
        if let Packet::Publish(p) = packet {
            let sent = u64::from_be_bytes(p.payload[..8].try_into()?);
            latencies.push((epoch.elapsed().as_nanos() as u64).saturating_sub(sent));
            if let Some(id) = p.packet_id {
                c.queue(&Packet::PubAck(Ack::new(id)))?;
                if c.reader.buf.is_empty() {
                    c.flush().await?;
                }
            }
        }
    }
    c.flush().await?;
    Ok(latencies)
}

/// Waits for the receivers (`expected` deliveries each), then closes the publishers: the
/// deliveries per second since `start`, and how many never came.
async fn throughput(
    start: Instant,
    publishers: Vec<Client>,
    receivers: Vec<tokio::task::JoinHandle<Result<Vec<u64>, Error>>>,
    expected: usize,
) -> Result<Throughput, Error> {
    let (mut got, mut lost) = (0, 0);
    for r in receivers {
        let n = r.await??.len();
        got += n;
        lost += expected.saturating_sub(n);
    }
    let per_second = got as f64 / start.elapsed().as_secs_f64();
    for p in publishers {
        p.disconnect().await?;
    }
    Ok(Throughput {
        per_second,
        lost,
        delivered: got,
    })
}

/// One publisher, `subs` subscribers of one topic, `messages` QoS 0 messages of 100 bytes.
pub async fn fan_out(ep: &Endpoint, subs: usize, messages: usize) -> Result<Throughput, Error> {
    let epoch = Instant::now();
    let mut receivers = Vec::new();
    for i in 0..subs {
        let mut c = Client::connect(ep, &format!("fan-sub-{i}")).await?;
        c.subscribe("bench/fan", QoS::AtMostOnce).await?;
        receivers.push(tokio::spawn(receive(c, messages, epoch)));
    }
    let mut p = Client::connect(ep, "fan-pub").await?;
    let topic = TopicName::try_from("bench/fan")?;
    let start = Instant::now();
    for i in 0..messages {
        p.queue(&publish(&topic, stamped(epoch, 100), QoS::AtMostOnce, 0))?;
        if i % 64 == 63 {
            p.flush().await?;
        }
    }
    p.flush().await?;
    throughput(start, vec![p], receivers, messages).await
}

/// `pubs` publishers of `messages` QoS 0 messages each, each on its own topic, to one
/// subscriber of `bench/in/#`.
pub async fn fan_in(ep: &Endpoint, pubs: usize, messages: usize) -> Result<Throughput, Error> {
    let epoch = Instant::now();
    let mut s = Client::connect(ep, "fan-in-sub").await?;
    s.subscribe("bench/in/#", QoS::AtMostOnce).await?;
    let receiver = tokio::spawn(receive(s, pubs * messages, epoch));
    let mut publishers = Vec::with_capacity(pubs);
    for i in 0..pubs {
        publishers.push(Client::connect(ep, &format!("fan-in-pub-{i}")).await?);
    }
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (i, mut p) in publishers.into_iter().enumerate() {
        let topic = TopicName::try_from(format!("bench/in/{i}"))?;
        tasks.push(tokio::spawn(async move {
            for n in 0..messages {
                p.queue(&publish(&topic, stamped(epoch, 100), QoS::AtMostOnce, 0))?;
                if n % 16 == 15 {
                    p.flush().await?;
                }
            }
            p.flush().await?;
            Ok::<Client, Error>(p)
        }));
    }
    let mut done = Vec::new();
    for t in tasks {
        done.push(t.await??);
    }
    throughput(start, done, vec![receiver], pubs * messages).await
}

/// `pairs` publishers each with its own subscriber, QoS 1, `window` in flight per publisher,
/// `messages` each; subscribers with this session expiry (`None`: clean sessions).
pub async fn pairs(
    ep: &Endpoint,
    pairs: usize,
    messages: usize,
    window: usize,
    session_expiry: Option<u32>,
) -> Result<Throughput, Error> {
    let epoch = Instant::now();
    let mut tasks = Vec::new();
    let mut receivers = Vec::new();
    for i in 0..pairs {
        let mut s = Client::with(ep, &format!("pair-sub-{i}"), session_expiry).await?;
        s.subscribe(&format!("bench/pair/{i}"), QoS::AtLeastOnce)
            .await?;
        receivers.push(tokio::spawn(receive(s, messages, epoch)));
    }
    let mut publishers = Vec::with_capacity(pairs);
    for i in 0..pairs {
        publishers.push(Client::connect(ep, &format!("pair-pub-{i}")).await?);
    }
    let start = Instant::now();
    for (i, mut p) in publishers.into_iter().enumerate() {
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
                let Some(packet) = p.reader.recv_within(QUIET).await? else {
                    return Err("the broker stopped acknowledging".into());
                };
                if let Packet::PubAck(_) = packet {
                    acked += 1;
                    in_flight -= 1;
                }
            }
            Ok::<Client, Error>(p)
        }));
    }
    let mut done = Vec::new();
    for t in tasks {
        done.push(t.await??);
    }
    throughput(start, done, receivers, messages).await
}

/// One publisher at a steady `rate` of QoS 1 messages to one subscriber (session expiry
/// `session_expiry`); latency from publish to delivery.
pub async fn latency(
    ep: &Endpoint,
    rate: f64,
    messages: usize,
    session_expiry: Option<u32>,
) -> Result<Latency, Error> {
    let epoch = Instant::now();
    let mut s = Client::with(ep, "lat-sub", session_expiry).await?;
    s.subscribe("bench/lat", QoS::AtLeastOnce).await?;
    let receiver = tokio::spawn(receive(s, messages, epoch));
    let p = Client::connect(ep, "lat-pub").await?;
    let topic = TopicName::try_from("bench/lat")?;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let Client { reader, mut writer } = p;
    // The PUBACKs are read and dropped in the background; the publisher only writes.
    let drain = tokio::spawn(reader.drain());
    for i in 0..messages {
        tick.tick().await;
        let id = (i % 60_000) as u16 + 1;
        writer.queue(&publish(&topic, stamped(epoch, 100), QoS::AtLeastOnce, id))?;
        writer.flush().await?;
    }
    let mut lat = receiver.await??;
    drain.abort();
    if lat.is_empty() {
        return Err("no message arrived".into());
    }
    lat.sort_unstable();
    let pct = |q: f64| lat[((lat.len() - 1) as f64 * q) as usize] as f64 / 1000.0;
    Ok(Latency {
        p50: pct(0.5),
        p99: pct(0.99),
        p999: pct(0.999),
        lost: messages - lat.len(),
    })
}

/// Connections per second: `clients` clients in all, `at_once` at a time, each connecting
/// (CONNECT, CONNACK) and disconnecting.
pub async fn connect_rate(ep: &Endpoint, clients: usize, at_once: usize) -> Result<f64, Error> {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for lane in 0..at_once {
        let ep = *ep;
        tasks.push(tokio::spawn(async move {
            for i in (lane..clients).step_by(at_once) {
                Client::connect(&ep, &format!("conn-{i}"))
                    .await?
                    .disconnect()
                    .await?;
            }
            Ok::<(), Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(clients as f64 / start.elapsed().as_secs_f64())
}

/// Bytes of resident memory the broker grows by per idle client with one subscription, for
/// `n` such clients.
pub async fn memory(broker: &Broker, ep: &Endpoint, n: usize) -> Result<f64, Error> {
    let before = broker.rss_kib()?;
    let mut clients = Vec::with_capacity(n);
    for i in 0..n {
        let client = async {
            let mut c = Client::connect(ep, &format!("idle-{i}")).await?;
            c.subscribe(&format!("idle/{i}/+/state"), QoS::AtLeastOnce)
                .await?;
            Ok::<Client, Error>(c)
        };
        let c = client.await.map_err(|e| format!("client {i}: {e}"))?;
        clients.push(c);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = broker.rss_kib()?;
    drop(clients);
    Ok(after.saturating_sub(before) as f64 * 1024.0 / n as f64)
}
