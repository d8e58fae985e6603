//! Malformed and protocol-violating input closes only the offending connection, with the
//! right reason code, while everyone else carries on.

mod common;

use common::{QoS, Raw, V5};
use pubzub_core::{Packet, ReasonCode};
use rand::{Rng, SeedableRng};

/// Connects, sends `bytes`, and returns the DISCONNECT reason the server answers with.
async fn reason_for(addr: std::net::SocketAddr, bytes: &[u8]) -> Option<ReasonCode> {
    let (mut raw, _) = Raw::connect(addr, "").await;
    raw.send_bytes(bytes).await;
    let mut reason = None;
    while let Some(p) = raw.recv().await {
        if let Packet::Disconnect(d) = p {
            reason = Some(d.reason_code);
        }
    }
    reason
}

#[tokio::test]
async fn malformed_packets_get_the_matching_reason_code() {
    let s = common::start_with(|c| c.limits.max_packet_size = 1000).await;
    let cases: &[(&str, &[u8], ReasonCode)] = &[
        (
            "reserved packet type 0",
            &[0x00, 0x00],
            ReasonCode::MalformedPacket,
        ),
        (
            "PUBLISH with QoS 3",
            &[0x36, 0x04, 0, 1, b't', 0],
            ReasonCode::MalformedPacket,
        ),
        (
            "variable byte integer over 4 bytes",
            &[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],
            ReasonCode::MalformedPacket,
        ),
        (
            "topic that runs past the packet",
            &[0x30, 0x03, 0, 9, b't'],
            ReasonCode::MalformedPacket,
        ),
        (
            "invalid UTF-8 in the topic",
            &[0x30, 0x04, 0, 2, 0xC3, 0x28],
            ReasonCode::MalformedPacket,
        ),
        (
            "wildcard in a topic name",
            &[0x30, 0x04, 0, 1, b'#', 0],
            ReasonCode::TopicNameInvalid,
        ),
        (
            "packet id 0",
            &[0x32, 0x06, 0, 1, b't', 0, 0, 0],
            ReasonCode::ProtocolError,
        ),
        (
            "SUBSCRIBE with wrong flags",
            &[0x80, 0x06, 0, 1, 0, 0, 1, b'a'],
            ReasonCode::MalformedPacket,
        ),
        (
            "SUBSCRIBE without filters",
            &[0x82, 0x03, 0, 1, 0],
            ReasonCode::ProtocolError,
        ),
        (
            "packet over the maximum size",
            &[0x30, 0xE9, 0x07],
            ReasonCode::PacketTooLarge,
        ),
        (
            "a second CONNECT",
            &[
                0x10, 0x0D, 0, 4, b'M', b'Q', b'T', b'T', 5, 2, 0, 30, 0, 0, 0,
            ],
            ReasonCode::ProtocolError,
        ),
        (
            "CONNACK from a client",
            &[0x20, 0x03, 0, 0, 0],
            ReasonCode::ProtocolError,
        ),
        (
            "duplicate property",
            &[0x30, 0x09, 0, 1, b't', 0x04, 0x01, 1, 0x01, 1, b'x'],
            ReasonCode::ProtocolError,
        ),
        (
            "property not allowed in PUBLISH",
            &[0x30, 0x07, 0, 1, b't', 0x03, 0x21, 0, 1],
            ReasonCode::MalformedPacket,
        ),
    ];
    for (what, bytes, expected) in cases {
        assert_eq!(reason_for(s.mqtt, bytes).await, Some(*expected), "{what}");
    }
    assert!(s.metric("pubzub_protocol_errors_total") >= cases.len() as i64);
}

#[tokio::test]
async fn random_bytes_on_many_connections_do_not_disturb_a_healthy_client() {
    let s = common::start().await;
    let mut healthy = V5::simple(s.mqtt, "healthy").await;
    healthy.subscribe("ping/#", QoS::AtLeastOnce).await;
    let mut sender = V5::simple(s.mqtt, "sender").await;

    let addr = s.mqtt;
    let garbage = tokio::spawn(async move {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for round in 0..200 {
            let mut raw = if round % 2 == 0 {
                Raw::connect(addr, "").await.0 // garbage after a valid CONNECT
            } else {
                Raw::open(addr).await // garbage instead of CONNECT
            };
            let len = rng.random_range(1..300);
            let bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            raw.send_bytes(&bytes).await;
            drop(raw);
        }
    });
    let mut i = 0;
    while !garbage.is_finished() || i < 50 {
        sender
            .publish_acked(&format!("ping/{i}"), format!("{i}"), false)
            .await;
        let got = healthy.publish().await;
        assert_eq!(got.payload, format!("{i}"), "no message lost or reordered");
        i += 1;
    }
    garbage.await.unwrap();
    // The server still accepts new clients.
    let mut late = V5::simple(s.mqtt, "late").await;
    late.publish_acked("ping/late", "ok", false).await;
    assert_eq!(healthy.publish().await.payload, "ok");
}

#[tokio::test]
async fn a_qos0_message_the_server_will_not_route_ends_the_connection_with_its_reason() {
    let s = common::start_with(|c| {
        c.limits.max_topic_levels = 3;
        c.limits.max_topic_length = 20;
    })
    .await;
    let mut bystander = V5::simple(s.mqtt, "bystander").await;
    bystander.subscribe("#", QoS::AtMostOnce).await;
    // PUBLISH QoS 0 on a/b/c/d (four levels), then on a topic of 21 bytes.
    for topic in ["a/b/c/d", "abcdefghijklmnopqrstu"] {
        let mut bytes = vec![0x30, (2 + topic.len() + 1 + 1) as u8, 0, topic.len() as u8];
        bytes.extend_from_slice(topic.as_bytes());
        bytes.extend_from_slice(&[0, b'x']); // no properties, payload "x"
        assert_eq!(
            reason_for(s.mqtt, &bytes).await,
            Some(ReasonCode::TopicNameInvalid),
            "{topic}"
        );
    }
    // At QoS 1 the PUBACK says so and the connection stays (session.rs); others carry on.
    bystander.publish_acked("a/b/c", "fine", false).await;
    assert_eq!(bystander.publish().await.topic, "a/b/c");
}

/// A raw v5 client subscribed to `t` at `qos`, after its SUBACK.
async fn raw_subscriber(addr: std::net::SocketAddr, id: &str, qos: pubzub_core::QoS) -> Raw {
    let (mut raw, _) = Raw::connect(addr, id).await;
    raw.send(Packet::Subscribe(pubzub_core::Subscribe {
        packet_id: pubzub_core::PacketId::new(1).unwrap(),
        properties: Default::default(),
        filters: vec![pubzub_core::SubscribeFilter {
            filter: pubzub_core::TopicFilter::new("t").unwrap(),
            options: pubzub_core::SubscriptionOptions {
                qos,
                ..Default::default()
            },
        }],
    }))
    .await;
    assert!(matches!(raw.recv().await, Some(Packet::SubAck(_))));
    raw
}

#[tokio::test]
async fn the_wrong_acknowledgement_for_a_message_in_flight_is_a_protocol_error() {
    use pubzub_core::{Ack, QoS as Q};
    let s = common::start().await;
    let mut publisher = V5::simple(s.mqtt, "publisher").await;
    // PUBCOMP or PUBREC for a QoS 1 delivery, PUBACK or PUBCOMP (before PUBREC) for a QoS 2 one.
    type MakeAck = fn(Ack) -> Packet;
    let wrong: [(Q, MakeAck); 4] = [
        (Q::AtLeastOnce, Packet::PubComp),
        (Q::AtLeastOnce, Packet::PubRec),
        (Q::ExactlyOnce, Packet::PubAck),
        (Q::ExactlyOnce, Packet::PubComp),
    ];
    for (i, (qos, ack)) in wrong.into_iter().enumerate() {
        let mut raw = raw_subscriber(s.mqtt, &format!("sub-{i}"), qos).await;
        let level = if qos == Q::AtLeastOnce {
            QoS::AtLeastOnce
        } else {
            QoS::ExactlyOnce
        };
        publisher
            .client
            .publish("t", level, false, "x")
            .await
            .unwrap();
        let id = match raw.recv().await {
            Some(Packet::Publish(p)) => p.packet_id.expect("QoS > 0"),
            other => panic!("expected PUBLISH, got {other:?}"),
        };
        raw.send(ack(Ack::new(id))).await;
        let mut reason = None;
        while let Some(p) = raw.recv().await {
            if let Packet::Disconnect(d) = p {
                reason = Some(d.reason_code);
            }
        }
        assert_eq!(reason, Some(ReasonCode::ProtocolError), "case {i}");
    }
    // The right ones, and the others, carry on.
    let mut raw = raw_subscriber(s.mqtt, "right", Q::AtLeastOnce).await;
    publisher
        .client
        .publish("t", QoS::AtLeastOnce, false, "y")
        .await
        .unwrap();
    let Some(Packet::Publish(p)) = raw.recv().await else {
        panic!("PUBLISH")
    };
    raw.send(Packet::PubAck(Ack::new(p.packet_id.unwrap())))
        .await;
    publisher.publish_acked("t", "z", false).await;
    assert!(matches!(raw.recv().await, Some(Packet::Publish(_))));
}
