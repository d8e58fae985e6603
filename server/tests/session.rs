//! Sessions: expiry, resume with session present, replay of unacknowledged messages, and the
//! bounded queue of an offline client.

mod common;

use std::time::Duration;

use common::{QoS, Raw, V5, v5_options};
use pubzub_core::{Disconnect, DisconnectProperties, Packet, ReasonCode};
use rumqttc::v5::mqttbytes::v5::{PubAckReason, PublishProperties};

fn persistent(addr: std::net::SocketAddr, id: &str, clean: bool) -> rumqttc::v5::MqttOptions {
    let mut o = v5_options(addr, id);
    o.set_clean_start(clean);
    o.set_session_expiry_interval(Some(60));
    o
}

#[tokio::test]
async fn offline_messages_wait_for_the_session_to_resume() {
    let s = common::start().await;
    let (mut c, ack) = V5::connect(persistent(s.mqtt, "mobile", true)).await;
    assert!(!ack.session_present);
    c.subscribe("news/#", QoS::AtLeastOnce).await;
    c.disconnect().await;

    let mut p = V5::simple(s.mqtt, "p").await;
    for i in 0..3 {
        p.publish_acked(&format!("news/{i}"), format!("n{i}"), false)
            .await;
    }
    let (mut c, ack) = V5::connect(persistent(s.mqtt, "mobile", false)).await;
    assert!(ack.session_present);
    for i in 0..3 {
        let got = c.publish().await;
        assert_eq!(got.topic, format!("news/{i}"), "in order");
        assert!(!got.dup, "never sent before");
    }
}

#[tokio::test]
async fn unacknowledged_messages_are_resent_with_dup_on_resume() {
    let s = common::start().await;
    let mut o = persistent(s.mqtt, "forgetful", true);
    o.set_manual_acks(true);
    let (mut c, _) = V5::connect(o).await;
    c.subscribe("jobs/#", QoS::ExactlyOnce).await;
    let mut p = V5::simple(s.mqtt, "p").await;
    p.publish_acked("jobs/1", "a", false).await;
    p.client
        .publish("jobs/2", QoS::ExactlyOnce, false, "b")
        .await
        .unwrap();
    let first = c.publish().await;
    let second = c.publish().await;
    assert!(!first.dup && !second.dup);
    c.kill(); // never acknowledged

    let mut o = persistent(s.mqtt, "forgetful", false);
    o.set_manual_acks(true);
    let (mut c, ack) = V5::connect(o).await;
    assert!(ack.session_present);
    let again = c.publish().await;
    assert_eq!(
        (again.topic.as_ref(), again.pkid, again.dup),
        (first.topic.as_ref(), first.pkid, true)
    );
    let again = c.publish().await;
    assert_eq!(
        (again.topic.as_ref(), again.pkid, again.dup),
        (second.topic.as_ref(), second.pkid, true)
    );
}

#[tokio::test]
async fn a_session_without_expiry_ends_with_its_connection() {
    let s = common::start().await;
    let (mut c, _) = V5::connect(v5_options(s.mqtt, "brief")).await;
    c.subscribe("x", QoS::AtLeastOnce).await;
    c.disconnect().await;
    let mut o = v5_options(s.mqtt, "brief");
    o.set_clean_start(false);
    let (_c, ack) = V5::connect(o).await;
    assert!(!ack.session_present);
}

#[tokio::test]
async fn a_session_expires_after_its_interval() {
    let s = common::start().await;
    let mut o = v5_options(s.mqtt, "short");
    o.set_session_expiry_interval(Some(1));
    let (c, _) = V5::connect(o).await;
    c.disconnect().await;
    assert_eq!(s.metric("pubzub_sessions"), 1);
    tokio::time::sleep(Duration::from_millis(1400)).await;
    assert_eq!(s.metric("pubzub_sessions"), 0);
}

#[tokio::test]
async fn disconnect_may_not_raise_a_zero_session_expiry() {
    let s = common::start().await;
    let (mut raw, _) = Raw::connect(s.mqtt, "sneaky").await;
    let mut d = Disconnect::new(ReasonCode::Success);
    d.properties = DisconnectProperties {
        session_expiry_interval: Some(100),
        ..Default::default()
    };
    raw.send(Packet::Disconnect(d)).await;
    match raw.recv().await {
        Some(Packet::Disconnect(d)) => assert_eq!(d.reason_code, ReasonCode::ProtocolError),
        other => panic!("expected DISCONNECT 0x82, got {other:?}"),
    }
}

#[tokio::test]
async fn the_offline_queue_is_bounded_and_drops_qos0_first() {
    let s = common::start_with(|c| c.limits.max_queued_messages = 3).await;
    let (mut c, _) = V5::connect(persistent(s.mqtt, "away", true)).await;
    c.subscribe("q/#", QoS::AtLeastOnce).await;
    c.disconnect().await;

    let mut p = V5::simple(s.mqtt, "p").await;
    p.client
        .publish("q/zero-a", QoS::AtMostOnce, false, "0")
        .await
        .unwrap();
    p.publish_acked("q/one-a", "1", false).await;
    p.client
        .publish("q/zero-b", QoS::AtMostOnce, false, "0")
        .await
        .unwrap();
    p.publish_acked("q/one-b", "1", false).await; // full: q/zero-a goes
    p.publish_acked("q/one-c", "1", false).await; // full: q/zero-b goes
    p.publish_acked("q/one-d", "1", false).await; // full, no QoS 0 left: the oldest goes
    assert_eq!(s.metric("pubzub_dropped_messages_total"), 3);

    let (mut c, _) = V5::connect(persistent(s.mqtt, "away", false)).await;
    for t in ["q/one-b", "q/one-c", "q/one-d"] {
        assert_eq!(c.publish().await.topic, t);
    }
    c.no_publish().await;
}

#[tokio::test]
async fn queued_messages_expire() {
    let s = common::start().await;
    let (mut c, _) = V5::connect(persistent(s.mqtt, "later", true)).await;
    c.subscribe("t/#", QoS::AtLeastOnce).await;
    c.disconnect().await;
    let mut p = V5::simple(s.mqtt, "p").await;
    let expiring = PublishProperties {
        message_expiry_interval: Some(1),
        ..Default::default()
    };
    p.publish_acked_with("t/gone", "x", false, expiring).await;
    p.publish_acked("t/kept", "y", false).await;
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert_eq!(s.metric("pubzub_dropped_messages_total"), 1);
    let (mut c, _) = V5::connect(persistent(s.mqtt, "later", false)).await;
    assert_eq!(c.publish().await.topic, "t/kept");
    c.no_publish().await;
}

#[tokio::test]
async fn publish_rate_and_topic_limits() {
    let s = common::start_with(|c| {
        c.limits.max_publish_rate = 3;
        c.limits.max_topic_length = 10;
    })
    .await;
    let mut c = V5::simple(s.mqtt, "chatty").await;
    c.client
        .publish("much/too/long/topic", QoS::AtLeastOnce, false, "x")
        .await
        .unwrap();
    for _ in 0..4 {
        c.client
            .publish("t", QoS::AtLeastOnce, false, "x")
            .await
            .unwrap();
    }
    let mut reasons = Vec::new();
    while reasons.len() < 5 {
        if let rumqttc::v5::mqttbytes::v5::Packet::PubAck(a) = c.next().await {
            reasons.push(a.reason);
        }
    }
    assert_eq!(reasons[0], PubAckReason::TopicNameInvalid);
    assert_eq!(reasons[4], PubAckReason::QuotaExceeded, "{reasons:?}");
}

/// A raw v5 CONNECT asking for a session that outlives the connection by 60 s.
async fn connect_for_60s(addr: std::net::SocketAddr, id: &str, clean_start: bool) -> (Raw, bool) {
    let mut connect = common::connect_packet(id);
    connect.clean_start = clean_start;
    connect.properties.session_expiry_interval = Some(60);
    let (raw, ack) = Raw::connect_with(addr, connect).await;
    (raw, ack.session_present)
}

#[tokio::test]
async fn disconnect_can_change_the_session_expiry() {
    let s = common::start().await;
    for (id, on_disconnect, survives) in [("kept", None, true), ("cut", Some(0), false)] {
        let (mut raw, _) = connect_for_60s(s.mqtt, id, true).await;
        let mut d = Disconnect::new(ReasonCode::Success);
        d.properties.session_expiry_interval = on_disconnect;
        raw.send(Packet::Disconnect(d)).await;
        assert!(raw.recv().await.is_none());
        let (_raw, session_present) = connect_for_60s(s.mqtt, id, false).await;
        assert_eq!(session_present, survives, "{id}");
    }
}

#[tokio::test]
async fn the_routing_id_survives_a_resume() {
    let s = common::start().await;
    let routing = common::routing_id;
    let (c, ack) = V5::connect(persistent(s.mqtt, "same", true)).await;
    let first = routing(ack);
    c.disconnect().await;
    let (_c, ack) = V5::connect(persistent(s.mqtt, "same", false)).await;
    assert!(ack.session_present);
    assert_eq!(routing(ack), first);
}
