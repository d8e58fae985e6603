//! pubzub-core's sans-IO client session (the engine of a page's bridge) against the real
//! server over TCP: connect and ids, every QoS, reference-counted subscriptions, the outbox
//! across a server restart, the offline bound, topic aliases, keep-alive failure.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use common::{QoS as RQoS, V5};
use pubzub_core::client::{ClientOptions, ClientSession, Event, TimerAction};
use pubzub_core::{Publish, QoS, Timestamp, TopicFilter, TopicName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Runs a session over a TCP socket: the host side of the sans-IO session.
struct Driver {
    session: ClientSession,
    stream: Option<TcpStream>,
    buf: BytesMut,
    epoch: Instant,
    /// Sizes of the packets written, in order.
    written: Vec<usize>,
    /// Bytes read from the server.
    read: usize,
}

impl Driver {
    fn new(options: ClientOptions) -> Driver {
        Driver {
            session: ClientSession::new(options),
            stream: None,
            buf: BytesMut::new(),
            epoch: Instant::now(),
            written: Vec::new(),
            read: 0,
        }
    }

    fn now(&self) -> Timestamp {
        Timestamp(self.epoch.elapsed().as_millis() as u64)
    }

    /// Opens the socket and waits for CONNACK; returns the `Connected` event.
    async fn open(&mut self, addr: SocketAddr) -> Event {
        self.stream = Some(TcpStream::connect(addr).await.expect("connects"));
        self.buf.clear();
        let now = self.now();
        self.session.on_open(now);
        self.until(|e| matches!(e, Event::Connected { .. } | Event::Refused(_)))
            .await
            .pop()
            .expect("an event")
    }

    fn close(&mut self) {
        self.stream = None;
        self.session.on_close();
    }

    /// Pumps bytes both ways until an event satisfies `done`; returns every event seen.
    async fn until(&mut self, mut done: impl FnMut(&Event) -> bool) -> Vec<Event> {
        let deadline = tokio::time::Instant::now() + common::WAIT;
        let mut events = Vec::new();
        loop {
            let now = self.now();
            while let Some(bytes) = self.session.poll_transmit(0, now) {
                self.written.push(bytes.len());
                self.stream
                    .as_mut()
                    .expect("open")
                    .write_all(&bytes)
                    .await
                    .expect("writes");
            }
            while let Some(e) = self.session.poll_event() {
                let stop = done(&e);
                events.push(e);
                if stop {
                    return events;
                }
            }
            let timer = self
                .session
                .next_timer()
                .map(|t| {
                    tokio::time::Instant::now() + Duration::from_millis(t.0.saturating_sub(now.0))
                })
                .unwrap_or(deadline)
                .min(deadline);
            let stream = self.stream.as_mut().expect("open");
            tokio::select! {
                read = stream.read_buf(&mut self.buf) => {
                    let n = read.expect("reads");
                    assert!(n > 0, "the server closed the connection; events so far: {events:?}");
                    self.read += n;
                    let now = self.now();
                    self.session.on_bytes(&self.buf, now).expect("valid packets");
                    self.buf.clear();
                }
                _ = tokio::time::sleep_until(timer) => {
                    assert!(tokio::time::Instant::now() < deadline, "timed out; events so far: {events:?}");
                    let now = self.now();
                    if self.session.on_timer(now) == TimerAction::CloseTransport {
                        events.push(Event::ServerDisconnect(pubzub_core::ReasonCode::KeepAliveTimeout));
                        return events;
                    }
                }
            }
        }
    }
}

fn publish(topic: &str, payload: &str, qos: QoS) -> Publish {
    let mut p = Publish::new(
        TopicName::try_from(topic).unwrap(),
        payload.as_bytes().to_vec(),
    );
    p.qos = qos;
    p
}

fn filter(f: &str) -> TopicFilter {
    TopicFilter::try_from(f).unwrap()
}

#[tokio::test]
async fn connects_with_an_assigned_id_and_publishes_every_qos_in_order() {
    let s = common::start().await;
    let mut sub = V5::simple(s.mqtt, "watcher").await;
    sub.subscribe("page/#", RQoS::ExactlyOnce).await;
    let mut d = Driver::new(ClientOptions::default());
    match d.open(s.mqtt).await {
        Event::Connected {
            session_present,
            client_id,
            routing_id,
        } => {
            assert!(!session_present);
            assert_eq!(client_id.len(), 20);
            assert_eq!(routing_id.map(|r| r.len()), Some(20));
        }
        other => panic!("expected Connected, got {other:?}"),
    }
    for (token, qos) in [
        (1, QoS::AtMostOnce),
        (2, QoS::AtLeastOnce),
        (3, QoS::ExactlyOnce),
    ] {
        d.session
            .publish(token, publish(&format!("page/{token}"), "x", qos));
    }
    let mut settled = Vec::new();
    d.until(|e| {
        if let Event::Published { token, result } = e {
            settled.push((*token, *result));
        }
        settled.len() == 3
    })
    .await;
    settled.sort_by_key(|(t, _)| *t);
    assert_eq!(settled, [(1, Ok(())), (2, Ok(())), (3, Ok(()))]);
    for i in 1..=3 {
        assert_eq!(sub.publish().await.topic, format!("page/{i}"));
    }
}

#[tokio::test]
async fn subscriptions_are_reference_counted() {
    let s = common::start().await;
    let mut d = Driver::new(ClientOptions::default());
    d.open(s.mqtt).await;
    d.session.subscribe(filter("news/#"), QoS::AtLeastOnce);
    d.session.subscribe(filter("news/#"), QoS::AtLeastOnce);
    let mut p = V5::simple(s.mqtt, "newsroom").await;
    // One SUBSCRIBE for two users; its SUBACK before publishing.
    let events = d.until(|e| matches!(e, Event::Subscribed { .. })).await;
    assert_eq!(
        events.last(),
        Some(&Event::Subscribed {
            filter: "news/#".into(),
            result: Ok(QoS::AtLeastOnce)
        })
    );
    p.publish_acked("news/1", "one", false).await;
    let got = d.until(|e| matches!(e, Event::Message(_))).await;
    assert!(matches!(got.last(), Some(Event::Message(m)) if m.topic.as_str() == "news/1"));
    assert!(
        !got.iter().any(|e| matches!(e, Event::Subscribed { .. })),
        "no second SUBSCRIBE: {got:?}"
    );
    assert_eq!(
        d.session.subscriptions().collect::<Vec<_>>(),
        [("news/#", 2)]
    );

    d.session.unsubscribe(&filter("news/#"));
    p.publish_acked("news/2", "still subscribed", false).await;
    let got = d.until(|e| matches!(e, Event::Message(_))).await;
    assert!(matches!(got.last(), Some(Event::Message(m)) if m.topic.as_str() == "news/2"));

    d.session.unsubscribe(&filter("news/#"));
    assert_eq!(d.session.subscriptions().count(), 0);
    // The UNSUBSCRIBE goes out with the next pump; then nothing more arrives.
    d.session
        .publish(99, publish("public/marker", "m", QoS::AtLeastOnce));
    d.until(|e| matches!(e, Event::Published { token: 99, .. }))
        .await;
    p.publish_acked("news/3", "gone", false).await;
    d.session
        .publish(100, publish("public/marker", "m", QoS::AtLeastOnce));
    let events = d
        .until(|e| matches!(e, Event::Published { token: 100, .. }))
        .await;
    assert!(
        !events.iter().any(|e| matches!(e, Event::Message(_))),
        "{events:?}"
    );
}

#[tokio::test]
async fn no_qos1_message_is_lost_across_a_server_restart_and_order_is_kept() {
    let s = common::start().await;
    let port = s.mqtt.port();
    let addr = s.mqtt;
    let mut watcher = V5::simple(addr, "watcher").await;
    watcher.subscribe("seq/#", RQoS::AtLeastOnce).await;

    let mut d = Driver::new(ClientOptions::default());
    d.open(addr).await;
    for i in 0..20u64 {
        d.session
            .publish(i, publish(&format!("seq/{i:03}"), "x", QoS::AtLeastOnce));
    }
    // Half of them acknowledged, then the server goes away mid-stream.
    let mut acked = 0;
    d.until(|e| {
        acked += matches!(e, Event::Published { result: Ok(()), .. }) as usize;
        acked == 10
    })
    .await;
    // PUBACKs read in the same batch as the tenth are settled too; what the session did not
    // see acknowledged it sends again to the next server.
    acked += std::iter::from_fn(|| d.session.poll_event())
        .filter(|e| matches!(e, Event::Published { result: Ok(()), .. }))
        .count();
    let mut received = Vec::new();
    while received.len() < acked {
        received.push(watcher.publish().await.topic);
    }
    let mut server = s;
    server.server.take().unwrap().shutdown().await;
    d.close();
    for i in 20..25u64 {
        d.session
            .publish(i, publish(&format!("seq/{i:03}"), "x", QoS::AtLeastOnce)); // while offline
    }

    let s2 =
        common::start_with(|c| c.mqtt.port = Some(pubzub_server::config::Setting::On(port))).await;
    let mut watcher = V5::simple(s2.mqtt, "watcher").await;
    watcher.subscribe("seq/#", RQoS::AtLeastOnce).await;
    match d.open(s2.mqtt).await {
        Event::Connected {
            session_present, ..
        } => assert!(!session_present, "a new server knows no session"),
        other => panic!("expected Connected, got {other:?}"),
    }
    let mut settled = acked;
    d.until(|e| {
        settled += matches!(e, Event::Published { result: Ok(()), .. }) as usize;
        settled == 25
    })
    .await;
    while received.last().is_none_or(|t| t != "seq/024") {
        received.push(watcher.publish().await.topic);
    }
    received.dedup(); // at least once: a message may come twice, never out of order
    let expected: Vec<String> = (0..25).map(|i| format!("seq/{i:03}")).collect();
    assert_eq!(received, expected);
}

#[tokio::test]
async fn the_offline_outbox_is_bounded_and_drops_qos0_first() {
    let mut d = Driver::new(ClientOptions {
        max_offline: 2,
        ..Default::default()
    });
    d.session.publish(1, publish("a", "0", QoS::AtMostOnce));
    d.session.publish(2, publish("a", "1", QoS::AtLeastOnce));
    d.session.publish(3, publish("a", "1", QoS::AtLeastOnce)); // 1 goes
    d.session.publish(4, publish("a", "1", QoS::AtLeastOnce)); // no QoS 0 left: 4 goes
    let mut dropped = Vec::new();
    while let Some(e) = d.session.poll_event() {
        if let Event::Dropped { token } = e {
            dropped.push(token);
        }
    }
    assert_eq!(dropped, [1, 4]);
    assert_eq!((d.session.queued(), d.session.dropped()), (2, 2));
}

#[tokio::test]
async fn repeated_topics_travel_as_aliases() {
    let s = common::start().await;
    let mut sub = V5::simple(s.mqtt, "watcher").await;
    sub.subscribe("sensors/#", RQoS::AtMostOnce).await;
    let mut d = Driver::new(ClientOptions::default());
    d.open(s.mqtt).await;
    let sent_before = d.written.len();
    for i in 0..3 {
        d.session.publish(
            i,
            publish(
                "sensors/building-7/floor-3/temperature",
                "21",
                QoS::AtMostOnce,
            ),
        );
    }
    d.until(|e| matches!(e, Event::Published { token: 2, .. }))
        .await;
    let sizes = &d.written[sent_before..];
    assert!(
        sizes[1] < sizes[0] && sizes[2] == sizes[1],
        "later packets carry the alias only: {sizes:?}"
    );
    for _ in 0..3 {
        assert_eq!(
            sub.publish().await.topic,
            "sensors/building-7/floor-3/temperature"
        );
    }
}

#[tokio::test]
async fn a_missing_pingresp_is_detected() {
    // A "server" that accepts CONNECT and then never answers again.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 256];
        let _ = sock.read(&mut buf).await;
        // CONNACK, v5: flags 0, reason 0, no properties.
        sock.write_all(&[0x20, 0x03, 0x00, 0x00, 0x00])
            .await
            .unwrap();
        while sock.read(&mut buf).await.map(|n| n > 0).unwrap_or(false) {}
    });
    let mut d = Driver::new(ClientOptions {
        keep_alive: 1,
        ..Default::default()
    });
    d.open(addr).await;
    let started = Instant::now();
    let events = d.until(|e| matches!(e, Event::ServerDisconnect(_))).await;
    assert!(matches!(
        events.last(),
        Some(Event::ServerDisconnect(
            pubzub_core::ReasonCode::KeepAliveTimeout
        ))
    ));
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1400) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
}

#[tokio::test]
async fn the_servers_aliases_for_repeated_topics_are_resolved() {
    let s = common::start().await;
    let mut d = Driver::new(ClientOptions::default());
    d.open(s.mqtt).await;
    d.session.subscribe(filter("sensors/#"), QoS::AtMostOnce);
    d.until(|e| matches!(e, Event::Subscribed { .. })).await;
    let mut p = V5::simple(s.mqtt, "thermometer").await;
    let topic = "sensors/building-7/floor-3/temperature";
    let mut sizes = Vec::new();
    for reading in ["20", "21", "22"] {
        let before = d.read;
        p.publish_acked(topic, reading, false).await;
        let got = d.until(|e| matches!(e, Event::Message(_))).await;
        let Some(Event::Message(m)) = got.last() else {
            panic!("no message: {got:?}");
        };
        assert_eq!(
            (m.topic.as_str(), &m.payload[..]),
            (topic, reading.as_bytes())
        );
        assert_eq!(m.properties.topic_alias, None, "resolved, not passed on");
        sizes.push(d.read - before);
    }
    // The session announced a Topic Alias Maximum: the server names the topic once.
    assert!(
        sizes[1] + topic.len() <= sizes[0] && sizes[2] == sizes[1],
        "later messages come by alias: {sizes:?}"
    );
}
