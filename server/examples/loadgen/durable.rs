//! The store's cost, side by side: pubzub-server with `durability` off, batched and sync, and
//! Mosquitto with `persistence true`, on the same workloads with persistent subscribers (their
//! queues are what a store keeps): QoS 1 throughput of 8 pairs, latency at 2,000 messages/s,
//! what kill -9 in the middle of a QoS 1 stream costs in batched and sync mode, and the
//! start-up time with 100,000 retained messages and 10,000 sessions.

use std::time::{Duration, Instant};

use bytes::Bytes;
use pubzub_core::{Packet, ProtocolVersion, QoS, TopicName};

use super::broker::{Broker, Kind, Options, Programs};
use super::client::{Client, Endpoint, publish};
use super::workloads::{latency, pairs};
use super::{Error, median};

/// Rounds of the throughput and latency workloads: five, as the ratio of two setups on this
/// machine moves by a tenth or more from one round to the next.
pub const ROUNDS: usize = 5;

/// The throughput workload: 8 publisher/subscriber pairs of 20,000 QoS 1 messages each (a
/// second or so per setup, long enough that a start-up hiccup does not decide it).
const PAIRS: usize = 8;
const PER_PAIR: usize = 20_000;

/// The subscribers' session expiry: their sessions, and queues, outlive a connection.
const EXPIRY: Option<u32> = Some(300);

/// Runs every durable workload for `rounds` rounds and prints the table and RATIO lines.
pub async fn run(programs: &Programs, rounds: usize) -> Result<(), Error> {
    let setups: [(&str, Kind, &str); 4] = [
        ("pubzub off", Kind::Pubzub, "off"),
        ("pubzub batched", Kind::Pubzub, "batched"),
        ("pubzub sync", Kind::Pubzub, "sync"),
        ("mosquitto persistence", Kind::Mosquitto, "on"),
    ];
    let mut throughput = vec![Vec::new(); setups.len()];
    let mut cpu = vec![Vec::new(); setups.len()];
    let mut p99 = vec![Vec::new(); setups.len()];
    for round in 0..rounds {
        for (i, (name, kind, mode)) in setups.iter().enumerate() {
            let broker = start(*kind, programs, mode)?;
            let before = broker.cpu_seconds()?;
            let t = pairs(&v5(&broker), PAIRS, PER_PAIR, 32, EXPIRY).await?;
            if t.lost > 0 {
                return Err(format!("{name} lost {} QoS 1 messages", t.lost).into());
            }
            throughput[i].push(t.per_second);
            // The broker's CPU time per delivery: what the store costs, steadier than a
            // throughput that moves with whatever else the machine does.
            let used = broker.cpu_seconds()? - before;
            cpu[i].push(used * 1e6 / (PAIRS * PER_PAIR) as f64);
            drop(broker);
            let broker = start(*kind, programs, mode)?;
            let tail = latency(&v5(&broker), 2_000.0, 4_000, EXPIRY).await?.p99;
            p99[i].push(tail);
            eprintln!(
                "durable round {round} {name}: 8 pairs {:.0}/s at {:.2} µs of broker CPU each, p99 {tail:.0} µs",
                throughput[i].last().copied().unwrap_or_default(),
                cpu[i].last().copied().unwrap_or_default(),
            );
        }
    }
    // The machine's speed wanders between rounds: the ratio within each round (the setups run
    // one after the other) is steadier than the ratio of medians.
    let paired = |a: usize, b: usize| {
        median(
            throughput[a]
                .iter()
                .zip(&throughput[b])
                .map(|(x, y)| x / y)
                .collect(),
        )
    };
    let (batched_off, batched_mosquitto) = (paired(1, 0), paired(1, 3));
    let t: Vec<f64> = throughput.into_iter().map(median).collect();
    let c: Vec<f64> = cpu.into_iter().map(median).collect();
    let l: Vec<f64> = p99.into_iter().map(median).collect();
    for (i, (name, ..)) in setups.iter().enumerate() {
        println!(
            "durable {name}: 8 pairs QoS 1 {:.0} deliveries/s ({:.2} µs of broker CPU each), p99 at 2000/s {:.0} µs",
            t[i], c[i], l[i]
        );
    }
    println!(
        "RATIO durable 8 pairs: batched {:.0}/s is {:.2}x of off ({:.0}/s) and {:.2}x Mosquitto persistent ({:.0}/s); sync {:.0}/s",
        t[1],
        t[1] / t[0],
        t[0],
        t[1] / t[3],
        t[3],
        t[2]
    );
    println!(
        "RATIO durable 8 pairs, median of the per-round ratios: batched {batched_off:.2}x of off, {batched_mosquitto:.2}x Mosquitto persistent"
    );
    println!(
        "RATIO durable 8 pairs, broker CPU per delivery: batched {:.2} µs is {:.2}x of off ({:.2} µs); sync {:.2} µs; Mosquitto persistent {:.2} µs",
        c[1],
        c[1] / c[0],
        c[0],
        c[2],
        c[3]
    );
    println!(
        "RATIO durable p99 at 2000/s: off {:.0} µs, batched {:.0} µs, sync {:.0} µs, Mosquitto persistent {:.0} µs",
        l[0], l[1], l[2], l[3]
    );
    for mode in ["batched", "sync"] {
        let (acked, lost) = crash_window(programs, mode).await?;
        println!(
            "RATIO durable kill -9 during a QoS 1 stream: pubzub {mode} lost {lost} of {acked} acknowledged messages"
        );
    }
    for (name, kind) in [
        ("pubzub batched", Kind::Pubzub),
        ("mosquitto", Kind::Mosquitto),
    ] {
        let secs = startup(kind, programs).await?;
        println!(
            "RATIO durable start-up with 100000 retained messages and 10000 sessions: {name} {secs:.2} s (target under 2 s)"
        );
    }
    Ok(())
}

/// What a crash costs: a persistent subscriber is away while one publisher sends QoS 1
/// messages one after the other (each after the previous PUBACK) for a second; then kill -9,
/// a restart, and the subscriber back. Returns (acknowledged, acknowledged and lost).
async fn crash_window(programs: &Programs, mode: &str) -> Result<(usize, usize), Error> {
    let mut broker = start(Kind::Pubzub, programs, mode)?;
    let ep = v5(&broker);
    let mut sub = Client::with(&ep, "crash-sub", EXPIRY).await?;
    sub.subscribe("crash/#", QoS::AtLeastOnce).await?;
    drop(sub);
    let mut p = Client::connect(&ep, "crash-pub").await?;
    let topic = TopicName::try_from("crash/x")?;
    let started = Instant::now();
    let mut acked = 0usize;
    while started.elapsed() < Duration::from_secs(1) {
        let id = (acked % 60_000) as u16 + 1;
        p.queue(&publish(
            &topic,
            Bytes::from(acked.to_string()),
            QoS::AtLeastOnce,
            id,
        ))?;
        p.flush().await?;
        while !matches!(p.recv().await?, Packet::PubAck(_)) {}
        acked += 1;
    }
    broker.kill()?;
    broker.restart()?;
    let mut sub = Client::with(&ep, "crash-sub", EXPIRY).await?;
    let mut received = std::collections::BTreeSet::new();
    while let Ok(packet) = tokio::time::timeout(Duration::from_millis(500), sub.recv()).await {
        if let Packet::Publish(m) = packet? {
            received.insert(String::from_utf8_lossy(&m.payload).parse::<usize>()?);
            if let Some(id) = m.packet_id {
                sub.queue(&Packet::PubAck(pubzub_core::Ack::new(id)))?;
                sub.flush().await?;
            }
        }
    }
    let lost = (0..acked).filter(|i| !received.contains(i)).count();
    Ok((acked, lost))
}

/// Seconds from starting the broker to its first CONNACK, with 100,000 retained messages and
/// 10,000 persistent sessions in its store, after a clean stop.
async fn startup(kind: Kind, programs: &Programs) -> Result<f64, Error> {
    let mut broker = start(kind, programs, "batched")?;
    let ep = v5(&broker);
    let mut p = Client::connect(&ep, "filler").await?;
    let payload = Bytes::from(vec![0x5Au8; 100]);
    for i in 0..100_000u32 {
        let topic = TopicName::try_from(format!("boot/r/{i}"))?;
        let mut packet = publish(&topic, payload.clone(), QoS::AtMostOnce, 0);
        if let Packet::Publish(p) = &mut packet {
            p.retain = true;
        }
        p.queue(&packet)?;
        if i % 256 == 255 {
            p.flush().await?;
        }
    }
    // A QoS 1 message after them: its PUBACK says every one before it was taken.
    let done = TopicName::try_from("boot/done")?;
    p.queue(&publish(&done, payload.clone(), QoS::AtLeastOnce, 1))?;
    p.flush().await?;
    while !matches!(p.recv().await?, Packet::PubAck(_)) {}
    for i in 0..10_000 {
        let mut s = Client::with(&ep, &format!("boot-{i}"), Some(3600)).await?;
        s.subscribe(&format!("boot/s/{i}"), QoS::AtLeastOnce)
            .await?;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    broker.stop()?;
    let started = Instant::now();
    broker.restart()?;
    // Up when a client is answered; the store is read before the listeners open.
    let mut c = Client::connect(&ep, "boot-check").await?;
    let secs = started.elapsed().as_secs_f64();
    c.subscribe("boot/r/99999", QoS::AtMostOnce).await?;
    match tokio::time::timeout(Duration::from_secs(5), c.recv()).await {
        Ok(Ok(Packet::Publish(_))) => Ok(secs),
        other => Err(format!("{kind:?} lost its retained messages: {other:?}").into()),
    }
}

/// pubzub-server in this durability mode, or Mosquitto with `persistence true` (whatever the
/// mode); queue limits lifted.
fn start(kind: Kind, programs: &Programs, mode: &str) -> Result<Broker, Error> {
    let options = Options {
        durability: Some(mode),
        ..Options::default()
    };
    Broker::start(kind, programs, options)
}

/// MQTT 5 over TCP: persistent sessions with an expiry.
fn v5(broker: &Broker) -> Endpoint {
    Endpoint::tcp(broker.addr, ProtocolVersion::V5)
}
