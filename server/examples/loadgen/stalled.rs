//! Memory under a stalled subscriber and for an offline session's queue, pubzub-server against
//! Mosquitto, both with their default queue limit of 1,000 messages per subscriber.
//!
//! - stalled: a subscriber that stops reading while one publisher sends 60,000 QoS 0 messages
//!   of 100 bytes, one write each; the broker's memory grown per message it held for that
//!   subscriber, and its resident memory 2 s after both clients have gone, against its
//!   baseline before they came.
//! - offline (same broker): the memory per QoS 1 message queued for an offline persistent
//!   session, 1,000 messages each published after the previous one's PUBACK.

use std::time::Duration;

use bytes::Bytes;
use pubzub_core::{Packet, ProtocolVersion, QoS, TopicName};

use super::broker::{Broker, Kind, Options, Programs};
use super::client::{Client, Endpoint, publish};
use super::{Error, median};

/// Runs both workloads on both brokers for `rounds` rounds and prints the RATIO lines.
pub async fn run(programs: &Programs, rounds: usize) -> Result<(), Error> {
    let kinds = [Kind::Pubzub, Kind::Mosquitto];
    let (mut held, mut left, mut queued) = ([vec![], vec![]], [vec![], vec![]], [vec![], vec![]]);
    for round in 0..rounds {
        // Alternate which broker goes first, so a slow phase of the machine hits both.
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for k in order {
            // A fresh broker with the default queue limits (1,000 messages held per
            // subscriber, the rest dropped): the baseline is its memory before any client.
            let options = Options {
                queues: Some(1_000),
                ..Options::default()
            };
            let broker = Broker::start(kinds[k], programs, options)?;
            let (per_message, after) = stalled(&broker).await?;
            held[k].push(per_message);
            left[k].push(after);
            queued[k].push(offline(&broker).await?);
        }
    }
    let [held_ours, held_theirs] = held;
    let [left_ours, left_theirs] = left;
    let [queued_ours, queued_theirs] = queued;
    report(
        "memory per 100-byte message held for a stalled subscriber",
        "bytes",
        held_ours,
        held_theirs,
    );
    report(
        "memory per 100-byte QoS 1 message queued for an offline session",
        "bytes",
        queued_ours,
        queued_theirs,
    );
    report(
        "resident memory 2 s after the stalled clients left, per baseline",
        "x",
        left_ours,
        left_theirs,
    );
    Ok(())
}

/// One RATIO line from both brokers' rounds (lower is better).
fn report(what: &str, unit: &str, ours: Vec<f64>, theirs: Vec<f64>) {
    let (ours, theirs) = (median(ours), median(theirs));
    println!(
        "RATIO {what}: pubzub-server {ours:.2} {unit}, mosquitto {theirs:.2} {unit}: {:.2}x better (lower)",
        theirs / ours
    );
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
    let ep = Endpoint::tcp(broker.addr, ProtocolVersion::V5);
    let baseline = broker.rss_kib()?;
    let anon_baseline = broker.anon_kib()?;
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_recv_buffer_size(4096)?;
    let stream = socket.connect(broker.addr).await?;
    let client_port = stream.local_addr()?.port();
    let mut sub = Client::over(stream, &ep, "stalled-sub", None).await?;
    sub.subscribe("bench/stalled", QoS::AtMostOnce).await?;
    let mut publisher = Client::connect(&ep, "stalled-pub").await?;
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
    let ep = Endpoint::tcp(broker.addr, ProtocolVersion::V5);
    let mut sub = Client::with(&ep, "offline-sub", Some(300)).await?;
    sub.subscribe("bench/offline", QoS::AtLeastOnce).await?;
    drop(sub);
    let mut publisher = Client::connect(&ep, "offline-pub").await?;
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
