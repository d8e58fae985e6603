//! Wills: the CONNECT will with its delay, and the pubzub wills on `$client/<id>/will/<willId>`.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{QoS, Raw, V5, v5_options};
use pubzub_core::{Disconnect, Packet, ReasonCode};
use rumqttc::v5::mqttbytes::v5::{LastWill, LastWillProperties};

fn with_will(
    addr: std::net::SocketAddr,
    id: &str,
    delay: Option<u32>,
    expiry: Option<u32>,
) -> rumqttc::v5::MqttOptions {
    let mut o = v5_options(addr, id);
    let props = LastWillProperties {
        delay_interval: delay,
        payload_format_indicator: None,
        message_expiry_interval: None,
        content_type: Some("text/plain".into()),
        response_topic: None,
        correlation_data: None,
        user_properties: vec![],
    };
    o.set_last_will(LastWill::new(
        format!("will/{id}"),
        format!("{id} is gone"),
        QoS::AtLeastOnce,
        false,
        Some(props),
    ));
    o.set_session_expiry_interval(expiry);
    o
}

/// A QoS 0 will for a raw CONNECT.
fn raw_will(topic: &str, payload: &'static [u8]) -> pubzub_core::Will {
    pubzub_core::Will {
        topic: topic.try_into().unwrap(),
        payload: Bytes::from_static(payload),
        qos: pubzub_core::QoS::AtMostOnce,
        retain: false,
        properties: Default::default(),
    }
}

async fn watcher(addr: std::net::SocketAddr) -> V5 {
    let mut w = V5::simple(addr, "watcher").await;
    w.subscribe("will/#", QoS::AtLeastOnce).await;
    w
}

#[tokio::test]
async fn will_fires_when_the_connection_is_lost() {
    let s = common::start().await;
    let mut w = watcher(s.mqtt).await;
    let (c, _) = V5::connect(with_will(s.mqtt, "lost", None, None)).await;
    c.kill();
    let got = w.publish().await;
    assert_eq!(
        (got.topic.as_ref(), got.payload.as_ref()),
        (&b"will/lost"[..], &b"lost is gone"[..])
    );
    assert_eq!(
        got.properties.and_then(|p| p.content_type).as_deref(),
        Some("text/plain")
    );
}

#[tokio::test]
async fn no_will_after_a_normal_disconnect() {
    let s = common::start().await;
    let mut w = watcher(s.mqtt).await;
    let (c, _) = V5::connect(with_will(s.mqtt, "polite", None, None)).await;
    c.disconnect().await;
    w.no_publish().await;
}

#[tokio::test]
async fn disconnect_with_will_message_fires_it() {
    let s = common::start().await;
    let mut w = watcher(s.mqtt).await;
    let mut connect = common::connect_packet("leaving");
    connect.will = Some(raw_will("will/leaving", b"bye"));
    let (mut raw, _) = Raw::connect_with(s.mqtt, connect).await;
    raw.send(Packet::Disconnect(Disconnect::new(
        ReasonCode::DisconnectWithWillMessage,
    )))
    .await;
    assert_eq!(w.publish().await.payload, "bye");
}

#[tokio::test]
async fn will_delay_holds_the_will_back() {
    let s = common::start().await;
    let mut w = watcher(s.mqtt).await;
    let (c, _) = V5::connect(with_will(s.mqtt, "delayed", Some(1), Some(60))).await;
    let lost_at = Instant::now();
    c.kill();
    assert_eq!(w.publish().await.topic, "will/delayed");
    let after = lost_at.elapsed();
    assert!(
        after >= Duration::from_millis(900),
        "published after {after:?}"
    );
}

#[tokio::test]
async fn reconnecting_within_the_will_delay_cancels_the_will() {
    let s = common::start().await;
    let mut w = watcher(s.mqtt).await;
    let (c, _) = V5::connect(with_will(s.mqtt, "flaky", Some(2), Some(60))).await;
    c.kill();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut o = with_will(s.mqtt, "flaky", Some(2), Some(60));
    o.set_clean_start(false);
    let (_back, ack) = V5::connect(o).await;
    assert!(ack.session_present);
    tokio::time::sleep(Duration::from_millis(2200)).await;
    w.no_publish().await;
}

#[tokio::test]
async fn will_fires_on_keep_alive_timeout() {
    let s = common::start().await;
    let mut w = watcher(s.mqtt).await;
    let mut connect = common::connect_packet("silent");
    connect.keep_alive = 1;
    connect.will = Some(raw_will("will/silent", b"timed out"));
    let started = Instant::now();
    let (mut raw, _) = Raw::connect_with(s.mqtt, connect).await;
    // Then nothing: no PINGREQ. The server gives up after 1.5 x keep alive.
    match raw.recv().await {
        Some(Packet::Disconnect(d)) => assert_eq!(d.reason_code, ReasonCode::KeepAliveTimeout),
        other => panic!("expected DISCONNECT 0x8D, got {other:?}"),
    }
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1400),
        "closed after {waited:?}"
    );
    assert_eq!(w.publish().await.payload, "timed out");
}

#[tokio::test]
async fn takeover_publishes_the_old_connections_will() {
    let s = common::start().await;
    let mut w = watcher(s.mqtt).await;
    let (_old, _) = V5::connect(with_will(s.mqtt, "twin", None, None)).await;
    let (_new, _) = V5::connect(v5_options(s.mqtt, "twin")).await;
    assert_eq!(w.publish().await.topic, "will/twin");
}

/// A client watching the `presence/#` topics the `$client` wills below publish on.
async fn presence_watcher(addr: std::net::SocketAddr) -> V5 {
    let mut w = V5::simple(addr, "watcher").await;
    w.subscribe("presence/#", QoS::AtLeastOnce).await;
    w
}

#[tokio::test]
async fn client_wills_fire_on_loss_and_can_be_removed() {
    let s = common::start().await;
    let mut w = presence_watcher(s.mqtt).await;

    let mut c = V5::simple(s.mqtt, "page").await;
    let will =
        |who: &str| format!(r#"{{"topic":"presence/{who}","payload":{{"left":"{who}"}},"qos":1}}"#);
    c.publish_acked("$client/page/will/a", will("a"), false)
        .await;
    c.publish_acked("$client/page/will/b", will("b"), false)
        .await;
    c.publish_acked("$client/page/will/b", "", false).await; // removed
    c.kill();
    let got = w.publish().await;
    assert_eq!(got.topic, "presence/a");
    assert_eq!(got.payload, r#"{"left":"a"}"#);
    assert_eq!(
        got.properties.and_then(|p| p.content_type).as_deref(),
        Some("application/json")
    );
    w.no_publish().await;
}

/// A page's connection: a persistent session (`expiry` seconds), resumed when `resume`.
fn page(addr: std::net::SocketAddr, expiry: u32, resume: bool) -> rumqttc::v5::MqttOptions {
    let mut o = v5_options(addr, "page");
    o.set_session_expiry_interval(Some(expiry));
    o.set_clean_start(!resume);
    o
}

/// A new session of `page` (`expiry` seconds) that registers the will `will` (JSON) as "a".
async fn page_with_will(addr: std::net::SocketAddr, expiry: u32, will: &str) -> V5 {
    let (mut c, _) = V5::connect(page(addr, expiry, false)).await;
    c.publish_acked("$client/page/will/a", will.to_owned(), false)
        .await;
    c
}

#[tokio::test]
async fn client_wills_of_a_persistent_session_fire_on_each_loss_and_stay_registered() {
    let s = common::start().await;
    let mut w = presence_watcher(s.mqtt).await;

    let c = page_with_will(s.mqtt, 1, r#"{"topic":"presence/a","payload":"gone"}"#).await;
    c.kill();
    assert_eq!(w.publish().await.topic, "presence/a", "fires on the loss");

    // The client comes back to its session without registering the will again.
    let (c, ack) = V5::connect(page(s.mqtt, 1, true)).await;
    assert!(ack.session_present);
    w.no_publish().await;
    c.kill();
    assert_eq!(
        w.publish().await.topic,
        "presence/a",
        "fires on the next loss"
    );
    // The session expires a second later: the will does not fire a third time.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    w.no_publish().await;
}

#[tokio::test]
async fn client_will_delay_holds_back_and_resuming_within_it_cancels() {
    let s = common::start().await;
    let mut w = presence_watcher(s.mqtt).await;
    let c = page_with_will(
        s.mqtt,
        60,
        r#"{"topic":"presence/a","payload":"gone","delay":1}"#,
    )
    .await;
    c.kill();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (c, ack) = V5::connect(page(s.mqtt, 60, true)).await;
    assert!(ack.session_present);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    w.no_publish().await;

    // Lost again and not back: it fires after its delay.
    let lost_at = Instant::now();
    c.kill();
    assert_eq!(w.publish().await.topic, "presence/a");
    let after = lost_at.elapsed();
    assert!(after >= Duration::from_millis(900), "after {after:?}");
}

#[tokio::test]
async fn client_wills_do_not_fire_after_a_normal_disconnect() {
    let s = common::start().await;
    let mut w = presence_watcher(s.mqtt).await;
    let mut c = V5::simple(s.mqtt, "page").await;
    c.publish_acked(
        "$client/page/will/x",
        r#"{"topic":"presence/x","payload":"gone"}"#,
        false,
    )
    .await;
    c.disconnect().await;
    w.no_publish().await;
}

#[tokio::test]
async fn wills_for_other_clients_and_bad_wills_are_refused() {
    let s = common::start().await;
    let mut c = V5::simple(s.mqtt, "page").await;
    c.client
        .publish(
            "$client/someone-else/will/x",
            QoS::AtLeastOnce,
            false,
            r#"{"topic":"t"}"#,
        )
        .await
        .unwrap();
    c.client
        .publish("$client/page/will/x", QoS::AtLeastOnce, false, "not json")
        .await
        .unwrap();
    let mut reasons = Vec::new();
    while reasons.len() < 2 {
        if let rumqttc::v5::mqttbytes::v5::Packet::PubAck(a) = c.next().await {
            reasons.push(a.reason);
        }
    }
    use rumqttc::v5::mqttbytes::v5::PubAckReason;
    assert_eq!(
        reasons,
        [
            PubAckReason::NotAuthorized,
            PubAckReason::PayloadFormatInvalid
        ]
    );
}

#[tokio::test]
async fn takeover_resuming_the_session_within_the_will_delay_keeps_the_will_back() {
    let s = common::start().await;
    let mut w = watcher(s.mqtt).await;
    let (_old, _) = V5::connect(with_will(s.mqtt, "mover", Some(5), Some(60))).await;
    let mut o = with_will(s.mqtt, "mover", Some(5), Some(60));
    o.set_clean_start(false);
    let (_new, ack) = V5::connect(o).await;
    assert!(ack.session_present);
    w.no_publish().await;
}

#[tokio::test]
async fn a_will_on_a_topic_the_client_may_not_publish_is_refused_at_registration() {
    use pubzub_server::config::{DEFAULT_SITE, Rule, RuleAccess, RuleAction};
    let s = common::start_with(|c| {
        let rules = &mut c.sites.entry(DEFAULT_SITE.into()).or_default().rules;
        rules.insert(
            0,
            Rule {
                action: RuleAction::Deny,
                access: RuleAccess::Publish,
                filter: "alarm/#".into(),
                who: "all".into(),
            },
        );
    })
    .await;
    let mut w = V5::simple(s.mqtt, "watcher").await;
    w.subscribe("alarm/#", QoS::AtLeastOnce).await;
    let mut c = V5::simple(s.mqtt, "page").await;
    c.client
        .publish(
            "$client/page/will/x",
            QoS::AtLeastOnce,
            false,
            r#"{"topic":"alarm/fire","payload":"forged"}"#,
        )
        .await
        .unwrap();
    let reason = loop {
        if let rumqttc::v5::mqttbytes::v5::Packet::PubAck(a) = c.next().await {
            break a.reason;
        }
    };
    assert_eq!(
        reason,
        rumqttc::v5::mqttbytes::v5::PubAckReason::NotAuthorized
    );
    c.kill();
    w.no_publish().await;
}

#[tokio::test]
async fn wills_per_session_are_capped_and_a_replaced_or_removed_one_makes_room() {
    use rumqttc::v5::mqttbytes::v5::PubAckReason;
    let s = common::start_with(|c| c.limits.max_wills_per_client = 3).await;
    let mut w = presence_watcher(s.mqtt).await;
    let mut c = V5::simple(s.mqtt, "page").await;
    let will = |who: &str| format!(r#"{{"topic":"presence/{who}","payload":"{who}"}}"#);
    // The attack: as many wills (each could be a megabyte) as the client likes.
    let mut reasons = Vec::new();
    for id in ["a", "b", "c", "d", "a"] {
        reasons.push(c.puback(&format!("$client/page/will/{id}"), will(id)).await);
    }
    use PubAckReason::{QuotaExceeded, Success};
    assert_eq!(
        reasons,
        [Success, Success, Success, QuotaExceeded, Success],
        "d was one too many; replacing a is fine"
    );
    c.publish_acked("$client/page/will/b", "", false).await; // removed: room for d
    c.publish_acked("$client/page/will/d", will("d"), false)
        .await;
    c.kill();
    let mut fired: Vec<String> = Vec::new();
    for _ in 0..3 {
        fired.push(String::from_utf8_lossy(&w.publish().await.topic).into_owned());
    }
    fired.sort();
    assert_eq!(fired, ["presence/a", "presence/c", "presence/d"]);
    w.no_publish().await;
}
