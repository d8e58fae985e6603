//! PUBLISH in both directions: QoS 0/1/2, delivery QoS, properties, topic aliases, receive
//! maximum, QoS 2 duplicates, bridge routing, slow subscribers.

mod common;

use bytes::Bytes;
use common::{QoS, Raw, V5, v5_options};
use pubzub_core::{Packet, PacketId, ReasonCode, TopicName};
use rumqttc::v5::mqttbytes::v5::{Packet as P, PubAckReason, PublishProperties};

#[tokio::test]
async fn every_qos_both_ways_at_the_lower_of_the_two() {
    let s = common::start().await;
    let mut sub2 = V5::simple(s.mqtt, "sub2").await;
    let mut sub1 = V5::simple(s.mqtt, "sub1").await;
    sub2.subscribe("q/#", QoS::ExactlyOnce).await;
    sub1.subscribe("q/#", QoS::AtLeastOnce).await;
    let mut publisher = V5::simple(s.mqtt, "pub").await;
    for (i, qos) in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]
        .into_iter()
        .enumerate()
    {
        publisher
            .client
            .publish(format!("q/{i}"), qos, false, vec![i as u8])
            .await
            .unwrap();
        let got = sub2.publish().await;
        assert_eq!(
            (got.topic.as_ref(), got.qos, &got.payload[..]),
            (format!("q/{i}").as_bytes(), qos, &[i as u8][..])
        );
        if qos != QoS::AtMostOnce {
            assert_ne!(got.pkid, 0, "QoS > 0 carries a packet id");
        }
        let got = sub1.publish().await;
        let expected = if qos == QoS::AtMostOnce {
            QoS::AtMostOnce
        } else {
            QoS::AtLeastOnce
        };
        assert_eq!(
            got.qos, expected,
            "delivery QoS = min(subscription, message)"
        );
    }
    // The publisher saw PUBACK and PUBCOMP (rumqttc completes the QoS 2 flow itself).
    let mut acks = Vec::new();
    while acks.len() < 2 {
        match publisher.next().await {
            P::PubAck(a) => acks.push(format!("puback {:?}", a.reason)),
            P::PubComp(c) => acks.push(format!("pubcomp {:?}", c.reason)),
            _ => {}
        }
    }
    assert_eq!(acks, ["puback Success", "pubcomp Success"]);
}

#[tokio::test]
async fn puback_says_no_matching_subscribers() {
    let s = common::start().await;
    let mut c = V5::simple(s.mqtt, "lonely").await;
    c.client
        .publish("nobody/listens", QoS::AtLeastOnce, false, "x")
        .await
        .unwrap();
    match c.next().await {
        P::PubAck(a) => assert_eq!(a.reason, PubAckReason::NoMatchingSubscribers),
        other => panic!("expected PUBACK, got {other:?}"),
    }
}

#[tokio::test]
async fn properties_travel_unchanged_and_in_order() {
    let s = common::start().await;
    let mut sub = V5::simple(s.mqtt, "responder").await;
    sub.subscribe("rpc/ask", QoS::AtLeastOnce).await;
    let publisher = V5::simple(s.mqtt, "asker").await;
    let props = PublishProperties {
        payload_format_indicator: Some(1),
        response_topic: Some("rpc/reply/42".into()),
        correlation_data: Some(Bytes::from_static(&[0, 1, 2, 0xFF])),
        content_type: Some("application/json".into()),
        user_properties: vec![
            ("b".into(), "2".into()),
            ("a".into(), "1".into()),
            ("b".into(), "again".into()),
        ],
        ..Default::default()
    };
    publisher
        .client
        .publish_with_properties("rpc/ask", QoS::AtLeastOnce, false, "{}", props.clone())
        .await
        .unwrap();
    let got = sub.publish().await.properties.expect("properties");
    assert_eq!(got.payload_format_indicator, Some(1));
    assert_eq!(got.response_topic, props.response_topic);
    assert_eq!(got.correlation_data, props.correlation_data);
    assert_eq!(got.content_type, props.content_type);
    assert_eq!(got.user_properties, props.user_properties);
}

#[tokio::test]
async fn topic_aliases_from_clients_are_resolved() {
    let s = common::start().await;
    let mut sub = V5::simple(s.mqtt, "alias-sub").await;
    sub.subscribe("long/topic/name", QoS::AtMostOnce).await;
    let publisher = V5::simple(s.mqtt, "alias-pub").await;
    let with_alias = |alias| PublishProperties {
        topic_alias: Some(alias),
        ..Default::default()
    };
    publisher
        .client
        .publish_with_properties(
            "long/topic/name",
            QoS::AtMostOnce,
            false,
            "1",
            with_alias(3),
        )
        .await
        .unwrap();
    publisher
        .client
        .publish_with_properties("", QoS::AtMostOnce, false, "2", with_alias(3))
        .await
        .unwrap();
    for payload in ["1", "2"] {
        let got = sub.publish().await;
        assert_eq!(got.topic, "long/topic/name");
        assert_eq!(got.payload, payload);
        assert_eq!(
            got.properties.and_then(|p| p.topic_alias),
            None,
            "not forwarded"
        );
    }
}

#[tokio::test]
async fn unknown_topic_alias_is_a_protocol_error() {
    let s = common::start().await;
    let (mut raw, _) = Raw::connect(s.mqtt, "bad-alias").await;
    let mut p = pubzub_core::Publish::new(TopicName::alias_only(), "x");
    p.properties.topic_alias = std::num::NonZeroU16::new(5);
    raw.send(Packet::Publish(p)).await;
    match raw.recv().await {
        Some(Packet::Disconnect(d)) => assert_eq!(d.reason_code, ReasonCode::ProtocolError),
        other => panic!("expected DISCONNECT, got {other:?}"),
    }
}

#[tokio::test]
async fn client_receive_maximum_limits_messages_in_flight() {
    let s = common::start().await;
    let mut o = v5_options(s.mqtt, "slow-acker");
    o.set_receive_maximum(Some(2));
    o.set_manual_acks(true);
    let (mut sub, _) = V5::connect(o).await;
    sub.subscribe("w/#", QoS::AtLeastOnce).await;
    let publisher = V5::simple(s.mqtt, "fast").await;
    for i in 0..5 {
        publisher
            .client
            .publish(format!("w/{i}"), QoS::AtLeastOnce, false, "x")
            .await
            .unwrap();
    }
    let first = sub.publish().await;
    let second = sub.publish().await;
    sub.no_publish().await; // the window is full
    sub.client.ack(&first).await.unwrap();
    let third = sub.publish().await;
    assert_eq!(third.topic, "w/2");
    sub.client.ack(&second).await.unwrap();
    sub.client.ack(&third).await.unwrap();
    assert_eq!(sub.publish().await.topic, "w/3");
    assert_eq!(sub.publish().await.topic, "w/4");
}

#[tokio::test]
async fn server_receive_maximum_is_enforced() {
    let s = common::start_with(|c| c.limits.receive_maximum = 2).await;
    let (mut raw, _) = Raw::connect(s.mqtt, "flooder").await;
    for id in 1..=3 {
        let mut p = pubzub_core::Publish::new(TopicName::try_from("t").unwrap(), "x");
        p.qos = pubzub_core::QoS::ExactlyOnce;
        p.packet_id = PacketId::new(id);
        raw.send(Packet::Publish(p)).await;
    }
    let mut saw = Vec::new();
    while let Some(p) = raw.recv().await {
        saw.push(p);
    }
    assert!(
        matches!(saw[..], [Packet::PubRec(_), Packet::PubRec(_), Packet::Disconnect(ref d)] if d.reason_code == ReasonCode::ReceiveMaximumExceeded),
        "{saw:?}"
    );
}

#[tokio::test]
async fn qos2_resend_before_pubrel_is_delivered_once() {
    let s = common::start().await;
    let mut sub = V5::simple(s.mqtt, "once").await;
    sub.subscribe("exactly", QoS::ExactlyOnce).await;
    let (mut raw, _) = Raw::connect(s.mqtt, "resender").await;
    let mut p = pubzub_core::Publish::new(TopicName::try_from("exactly").unwrap(), "1");
    p.qos = pubzub_core::QoS::ExactlyOnce;
    p.packet_id = PacketId::new(7);
    raw.send(Packet::Publish(p.clone())).await;
    assert!(matches!(raw.recv().await, Some(Packet::PubRec(_))));
    p.dup = true;
    raw.send(Packet::Publish(p)).await;
    assert!(matches!(raw.recv().await, Some(Packet::PubRec(_))));
    raw.send(Packet::PubRel(pubzub_core::Ack::new(
        PacketId::new(7).unwrap(),
    )))
    .await;
    match raw.recv().await {
        Some(Packet::PubComp(c)) => assert_eq!(c.reason_code, ReasonCode::Success),
        other => panic!("expected PUBCOMP, got {other:?}"),
    }
    assert_eq!(sub.publish().await.payload, "1");
    sub.no_publish().await;
}

#[tokio::test]
async fn bridge_topics_reach_their_client_without_a_subscription() {
    let s = common::start().await;
    let (mut page, ack) = V5::connect(v5_options(s.mqtt, "page-1")).await;
    let routing = common::routing_id(ack);
    let other = V5::simple(s.mqtt, "server-side").await;
    other
        .client
        .publish(
            format!("bridge/{routing}/reply/1"),
            QoS::AtLeastOnce,
            false,
            "by routing id",
        )
        .await
        .unwrap();
    other
        .client
        .publish(
            "bridge/page-1/reply/2",
            QoS::AtMostOnce,
            false,
            "by client id",
        )
        .await
        .unwrap();
    let got = page.publish().await;
    assert_eq!(
        (got.topic.as_ref(), got.payload.as_ref()),
        (&b"reply/1"[..], &b"by routing id"[..])
    );
    let ids = got
        .properties
        .map(|p| p.subscription_identifiers)
        .unwrap_or_default();
    assert!(ids.is_empty(), "no subscription id: {ids:?}");
    let got = page.publish().await;
    assert_eq!(got.topic, "reply/2");
}

#[tokio::test]
async fn a_slow_subscriber_loses_qos0_alone() {
    let s = common::start_with(|c| {
        c.limits.max_outgoing_qos0 = 64;
        c.limits.max_publish_rate = 0;
    })
    .await;
    // A subscriber that never reads: its socket buffers fill, then its queue.
    let (mut stuck, _) = Raw::connect(s.mqtt, "stuck").await;
    stuck
        .send(Packet::Subscribe(common::subscribe_packet(1, "load/#")))
        .await;
    assert!(matches!(stuck.recv().await, Some(Packet::SubAck(_))));
    let mut healthy = V5::simple(s.mqtt, "healthy").await;
    healthy.subscribe("load/#", QoS::AtMostOnce).await;

    let publisher = V5::simple(s.mqtt, "loader").await;
    let payload = vec![7u8; 8 * 1024]; // under rumqttc's 10 KiB default
    // 24 MiB in batches of 50: far more than the stuck socket's buffers hold, while the
    // healthy subscriber's queue never holds more than a batch.
    for batch in 0..60 {
        for i in batch * 50..(batch + 1) * 50 {
            publisher
                .client
                .publish(format!("load/{i}"), QoS::AtMostOnce, false, payload.clone())
                .await
                .unwrap();
        }
        for i in batch * 50..(batch + 1) * 50 {
            let got = healthy.publish().await;
            assert_eq!(
                got.topic,
                format!("load/{i}"),
                "the healthy subscriber gets every message, in order"
            );
        }
    }
    assert!(
        s.metric("pubzub_dropped_messages_total") > 0,
        "the stuck subscriber's overflow is dropped"
    );
}

#[tokio::test]
async fn a_tilde_response_topic_is_expanded() {
    let s = common::start().await;
    let mut sub = V5::simple(s.mqtt, "responder").await;
    sub.subscribe("svc", QoS::AtMostOnce).await;
    let asker = V5::simple(s.mqtt, "asker").await;
    let props = PublishProperties {
        response_topic: Some("~client/reply/1".into()),
        ..Default::default()
    };
    asker
        .client
        .publish_with_properties("svc", QoS::AtMostOnce, false, "?", props)
        .await
        .unwrap();
    let got = sub
        .publish()
        .await
        .properties
        .and_then(|p| p.response_topic);
    assert_eq!(got.as_deref(), Some("bridge/asker/reply/1"));
}

/// The topic and alias of each of the next `n` PUBLISH packets `raw` receives.
async fn topics_and_aliases(raw: &mut Raw, n: usize) -> Vec<(String, Option<u16>)> {
    let mut got = Vec::new();
    while got.len() < n {
        match raw.recv().await {
            Some(Packet::Publish(p)) => got.push((
                p.topic.to_string(),
                p.properties.topic_alias.map(|a| a.get()),
            )),
            Some(_) => {}
            None => panic!("closed after {got:?}"),
        }
    }
    got
}

/// A raw v5 subscriber to `alias/#` with this Topic Alias Maximum (none: the property left out).
async fn alias_subscriber(addr: std::net::SocketAddr, id: &str, max: Option<u16>) -> Raw {
    let mut connect = common::connect_packet(id);
    connect.properties.topic_alias_maximum = max;
    let (mut raw, _) = Raw::connect_with(addr, connect).await;
    raw.send(Packet::Subscribe(pubzub_core::Subscribe {
        packet_id: pubzub_core::PacketId::new(1).unwrap(),
        properties: Default::default(),
        filters: vec![pubzub_core::SubscribeFilter {
            filter: "alias/#".try_into().unwrap(),
            options: Default::default(),
        }],
    }))
    .await;
    assert!(matches!(raw.recv().await, Some(Packet::SubAck(_))));
    raw
}

#[tokio::test]
async fn the_server_sends_repeated_topics_by_alias_within_the_clients_maximum() {
    let s = common::start().await;
    let mut with_two = alias_subscriber(s.mqtt, "takes-two", Some(2)).await;
    let mut with_none = alias_subscriber(s.mqtt, "takes-none", None).await;
    let publisher = V5::simple(s.mqtt, "alias-source").await;
    let topics = [
        "alias/a", "alias/a", "alias/b", "alias/c", "alias/a", "alias/c",
    ];
    for t in topics {
        publisher
            .client
            .publish(t, QoS::AtMostOnce, false, "x")
            .await
            .unwrap();
    }
    let own = |t: &str, a: Option<u16>| (t.to_string(), a);
    assert_eq!(
        topics_and_aliases(&mut with_two, topics.len()).await,
        [
            own("alias/a", Some(1)), // topic and a new alias
            own("", Some(1)),        // the alias alone
            own("alias/b", Some(2)),
            own("alias/c", None), // the client's maximum is reached
            own("", Some(1)),
            own("alias/c", None),
        ]
    );
    // A client that takes no aliases gets every topic in full.
    let plain = topics_and_aliases(&mut with_none, topics.len()).await;
    assert_eq!(
        plain,
        topics.iter().map(|t| own(t, None)).collect::<Vec<_>>()
    );
}

/// A connection handles the packets of one read under one lock of the broker, a bounded number
/// at a time: a burst of hundreds in one write is answered in order, with a SUBSCRIBE in its
/// middle taking effect for the publications after it, while another client keeps publishing.
#[tokio::test]
async fn a_burst_in_one_write_is_handled_in_order() {
    let s = common::start().await;
    let (mut raw, _) = Raw::connect(s.mqtt, "burst").await;
    let mut other = V5::simple(s.mqtt, "other").await;
    let mut watcher = V5::simple(s.mqtt, "watcher").await;
    watcher.subscribe("burst/#", QoS::AtMostOnce).await;
    let publish = |i: u16| {
        let mut p = pubzub_core::Publish::new(
            TopicName::try_from(format!("burst/{i}")).unwrap(),
            i.to_be_bytes().to_vec(),
        );
        p.qos = pubzub_core::QoS::AtLeastOnce;
        p.packet_id = PacketId::new(i);
        Packet::Publish(p)
    };
    let mut bytes = bytes::BytesMut::new();
    let v5 = pubzub_core::ProtocolVersion::V5;
    for i in 1..=150 {
        pubzub_core::encode(&publish(i), v5, &mut bytes).unwrap();
    }
    let subscribe = Packet::Subscribe(common::subscribe_packet(999, "burst/#"));
    pubzub_core::encode(&subscribe, v5, &mut bytes).unwrap();
    for i in 151..=300 {
        pubzub_core::encode(&publish(i), v5, &mut bytes).unwrap();
    }
    pubzub_core::encode(&Packet::PingReq, v5, &mut bytes).unwrap();
    raw.send_bytes(&bytes).await;
    other.publish_acked("burst/other", "x", false).await;

    let mut acked = Vec::new();
    let mut own = Vec::new();
    let (mut subacked, mut ponged) = (false, false);
    while !ponged {
        match raw.recv().await.expect("the connection stays open") {
            Packet::PubAck(a) => {
                assert!(!subacked || a.packet_id.get() > 150, "acks in order");
                acked.push(a.packet_id.get());
            }
            Packet::SubAck(a) => {
                assert_eq!(acked.len(), 150, "SUBACK after the first 150 PUBACKs");
                assert_eq!(a.packet_id.get(), 999);
                subacked = true;
            }
            Packet::Publish(p) => own.push(u16::from_be_bytes([p.payload[0], p.payload[1]])),
            Packet::PingResp => ponged = true,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(acked, (1..=300).collect::<Vec<_>>());
    // Its own publications after the SUBSCRIBE come back to it; none before it does.
    assert_eq!(own, (151..=300).collect::<Vec<_>>());
    let mut seen = 0;
    while seen < 301 {
        watcher.publish().await;
        seen += 1;
    }
    watcher.no_publish().await;
}
