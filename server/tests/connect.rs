//! CONNECT and CONNACK: assigned ids, announced limits, takeover, connect timeout.

mod common;

use std::time::{Duration, Instant};

use common::{QUIET, Raw, V5, WAIT, v5_options};
use pubzub_core::{Packet, ReasonCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn connack_announces_ids_and_limits() {
    let s = common::start().await;
    let (_raw, ack) = Raw::connect(s.mqtt, "").await;
    assert_eq!(ack.reason_code, ReasonCode::Success);
    assert!(!ack.session_present);
    let p = &ack.properties;
    let assigned = p.assigned_client_identifier.as_ref().expect("assigned id");
    assert_eq!(assigned.len(), 20);
    assert!(assigned.chars().all(|c| c.is_ascii_alphanumeric()));
    let routing = p
        .user_properties
        .iter()
        .find(|(k, _)| k.as_str() == "cotonic-routing-id")
        .map(|(_, v)| v.clone())
        .expect("routing id");
    assert_eq!(routing.len(), 20);
    assert_ne!(routing, *assigned);
    assert_eq!(p.receive_maximum.map(|n| n.get()), Some(100));
    assert_eq!(p.maximum_packet_size.map(|n| n.get()), Some(1024 * 1024));
    assert_eq!(p.topic_alias_maximum, Some(64));
    assert_eq!(p.retain_available, Some(true));
    assert_eq!(p.wildcard_subscription_available, Some(true));
    assert_eq!(p.subscription_identifiers_available, Some(true));
    assert_eq!(p.shared_subscription_available, Some(true));
}

#[tokio::test]
async fn server_keep_alive_caps_a_long_keep_alive() {
    let s = common::start().await;
    let mut o = v5_options(s.mqtt, "sleepy");
    o.set_keep_alive(Duration::from_secs(3600));
    let (_c, ack) = V5::connect(o).await;
    let props = ack.properties.expect("v5 properties");
    assert_eq!(props.server_keep_alive, Some(300));
    // rumqttc reads the routing id as a user property too.
    assert!(
        props
            .user_properties
            .iter()
            .any(|(k, _)| k == "cotonic-routing-id")
    );
}

#[tokio::test]
async fn second_connection_takes_the_session_over() {
    let s = common::start().await;
    let (mut first, _) = Raw::connect(s.mqtt, "twin").await;
    let (_second, ack) = Raw::connect(s.mqtt, "twin").await;
    assert_eq!(ack.reason_code, ReasonCode::Success);
    match first.recv().await {
        Some(Packet::Disconnect(d)) => assert_eq!(d.reason_code, ReasonCode::SessionTakenOver),
        other => panic!("expected DISCONNECT 0x8E, got {other:?}"),
    }
    assert!(
        first.recv().await.is_none(),
        "then the old connection closes"
    );
}

#[tokio::test]
async fn silent_connection_is_closed_after_the_connect_timeout() {
    let s = common::start_with(|c| c.limits.connect_timeout = 1).await;
    let mut raw = Raw::open(s.mqtt).await;
    let started = std::time::Instant::now();
    assert!(raw.recv().await.is_none());
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900),
        "closed after {waited:?}"
    );
}

#[tokio::test]
async fn sockets_past_the_budget_are_closed_at_accept_on_every_listener() {
    let s = common::start_with(|c| c.limits.max_connections = 2).await;
    let (_first, ack) = Raw::connect(s.mqtt, "one").await;
    assert_eq!(ack.reason_code, ReasonCode::Success);
    // An HTTP request that never ends takes the second permit.
    let mut http = TcpStream::connect(s.http).await.unwrap();
    http.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    tokio::time::sleep(QUIET).await;
    // The budget is spent: MQTT and HTTP sockets alike are closed before anything is read.
    let mut third = Raw::open(s.mqtt).await;
    third
        .send(Packet::Connect(Box::new(common::connect_packet("three"))))
        .await;
    assert!(third.recv().await.is_none(), "no CONNACK past the budget");
    let mut page = TcpStream::connect(s.http).await.unwrap();
    let mut byte = [0u8; 1];
    let n = tokio::time::timeout(WAIT, page.read(&mut byte))
        .await
        .unwrap();
    assert!(
        matches!(n, Ok(0) | Err(_)),
        "HTTP past the budget is closed: {n:?}"
    );
    assert_eq!(s.metric("pubzub_refused_connections_total"), 2);
    // The HTTP socket's permit comes back when it goes.
    drop(http);
    tokio::time::sleep(QUIET).await;
    let (_again, ack) = Raw::connect(s.mqtt, "three").await;
    assert_eq!(ack.reason_code, ReasonCode::Success);
}

/// Whether the server closes `socket` within `within` (whatever it says first).
async fn closed_by(socket: &mut TcpStream, within: Duration) -> bool {
    let mut bytes = [0u8; 256];
    let read = async {
        while let Ok(n) = socket.read(&mut bytes).await {
            if n == 0 {
                break;
            }
        }
    };
    tokio::time::timeout(within, read).await.is_ok()
}

#[tokio::test]
async fn half_sent_http_requests_hold_no_more_than_the_budget_and_time_out() {
    let s = common::start_with(|c| {
        c.limits.max_connections = 20;
        c.limits.http_header_timeout = 1;
    })
    .await;
    // 60 requests whose headers never end (slowloris).
    let mut held = Vec::new();
    for _ in 0..60 {
        let mut socket = TcpStream::connect(s.http).await.unwrap();
        let _ = socket
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-A: ")
            .await;
        held.push(socket);
    }
    let started = Instant::now();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut closed_at_once = 0;
    for socket in &mut held {
        if closed_by(socket, Duration::from_millis(1)).await {
            closed_at_once += 1;
        }
    }
    assert_eq!(closed_at_once, 40, "only the budget's 20 stay open");
    // The 20 that got a permit are closed once their header time is up.
    for socket in &mut held {
        assert!(
            closed_by(socket, WAIT).await,
            "closed after the header timeout"
        );
    }
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(700),
        "closed after {waited:?}"
    );
    // And an MQTT client gets its CONNACK again.
    let (_c, ack) = Raw::connect(s.mqtt, "after-the-attack").await;
    assert_eq!(ack.reason_code, ReasonCode::Success);
}

#[tokio::test]
async fn first_packet_must_be_connect() {
    let s = common::start().await;
    let mut raw = Raw::open(s.mqtt).await;
    raw.send(Packet::PingReq).await;
    assert!(raw.recv().await.is_none());
}

#[tokio::test]
async fn unsupported_protocol_level_gets_connack_0x84() {
    let s = common::start().await;
    let mut raw = Raw::open(s.mqtt).await;
    raw.set_version(pubzub_core::ProtocolVersion::V311);
    // CONNECT, protocol name MQTT, level 9.
    raw.send_bytes(&[
        0x10, 0x0D, 0, 4, b'M', b'Q', b'T', b'T', 9, 0x02, 0, 30, 0, 1, b'x',
    ])
    .await;
    match raw.recv().await {
        // 3.1.1 return code 1: unacceptable protocol version.
        Some(Packet::ConnAck(a)) => {
            assert_eq!(a.reason_code, ReasonCode::UnsupportedProtocolVersion)
        }
        other => panic!("expected CONNACK, got {other:?}"),
    }
    assert!(raw.recv().await.is_none());
}

#[tokio::test]
async fn the_connack_respects_the_clients_maximum_packet_size() {
    let s = common::start().await;
    let size = |ack: &pubzub_core::ConnAck| {
        pubzub_core::encoded_len(
            &Packet::ConnAck(ack.clone()),
            pubzub_core::ProtocolVersion::V5,
        )
        .unwrap()
    };
    let (_raw, full) = Raw::connect(s.mqtt, "").await;
    let limit = 60;
    assert!(
        size(&full) > limit,
        "the usual CONNACK is {} bytes",
        size(&full)
    );
    let mut connect = common::connect_packet("");
    connect.properties.maximum_packet_size = std::num::NonZeroU32::new(limit as u32);
    let (_raw, small) = Raw::connect_with(s.mqtt, connect).await;
    assert_eq!(small.reason_code, ReasonCode::Success);
    assert!(
        size(&small) <= limit,
        "{} bytes [MQTT-3.1.2-24]",
        size(&small)
    );
    assert!(
        small.properties.user_properties.is_empty(),
        "the user properties went first"
    );
    assert!(
        small.properties.assigned_client_identifier.is_some(),
        "what the client needs stays"
    );
}
