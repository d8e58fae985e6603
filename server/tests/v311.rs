//! MQTT 3.1.1 clients (rumqttc's v4 client) on the same broker as v5 ones.

mod common;

use std::time::Duration;

use rumqttc::{AsyncClient, ConnectReturnCode, Event, LastWill, MqttOptions, Packet, QoS};
use tokio::sync::mpsc;

struct V4 {
    client: AsyncClient,
    rx: mpsc::UnboundedReceiver<Packet>,
    task: tokio::task::JoinHandle<()>,
}

impl V4 {
    async fn connect(options: MqttOptions) -> (V4, rumqttc::ConnAck) {
        let (client, mut eventloop) = AsyncClient::new(options, 100);
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            while let Ok(event) = eventloop.poll().await {
                if let Event::Incoming(p) = event
                    && tx.send(p).is_err()
                {
                    break;
                }
            }
        });
        let mut c = V4 { client, rx, task };
        match c.next().await {
            Packet::ConnAck(a) => (c, a),
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    async fn next(&mut self) -> Packet {
        tokio::time::timeout(common::WAIT, self.rx.recv())
            .await
            .expect("in time")
            .expect("connection open")
    }

    async fn publish(&mut self) -> rumqttc::Publish {
        loop {
            if let Packet::Publish(p) = self.next().await {
                return p;
            }
        }
    }

    async fn suback(&mut self) {
        while !matches!(self.next().await, Packet::SubAck(_)) {}
    }
}

fn options(addr: std::net::SocketAddr, id: &str) -> MqttOptions {
    let mut o = MqttOptions::new(id, addr.ip().to_string(), addr.port());
    o.set_keep_alive(Duration::from_secs(30));
    o
}

#[tokio::test]
async fn v311_and_v5_clients_exchange_every_qos() {
    let s = common::start().await;
    let (mut sub, ack) = V4::connect(options(s.mqtt, "old-sub")).await;
    assert_eq!(ack.code, ConnectReturnCode::Success);
    sub.client
        .subscribe("mix/#", QoS::ExactlyOnce)
        .await
        .unwrap();
    sub.suback().await;
    let v5 = common::V5::simple(s.mqtt, "new-pub").await;
    for (i, qos) in [
        common::QoS::AtMostOnce,
        common::QoS::AtLeastOnce,
        common::QoS::ExactlyOnce,
    ]
    .into_iter()
    .enumerate()
    {
        v5.client
            .publish(format!("mix/{i}"), qos, false, "x")
            .await
            .unwrap();
        let got = sub.publish().await;
        assert_eq!((got.topic, got.qos as u8), (format!("mix/{i}"), i as u8));
    }
}

#[tokio::test]
async fn v311_retained_and_will() {
    let s = common::start().await;
    let (p, _) = V4::connect(options(s.mqtt, "old-pub")).await;
    p.client
        .publish("r311/a", QoS::AtLeastOnce, true, "kept")
        .await
        .unwrap();
    let mut o = options(s.mqtt, "doomed");
    o.set_last_will(LastWill::new(
        "r311/will",
        "doomed left",
        QoS::AtLeastOnce,
        false,
    ));
    let (doomed, _) = V4::connect(o).await;

    let (mut sub, _) = V4::connect(options(s.mqtt, "late")).await;
    tokio::time::sleep(Duration::from_millis(100)).await; // let the publisher's message land
    sub.client
        .subscribe("r311/#", QoS::AtLeastOnce)
        .await
        .unwrap();
    let got = sub.publish().await;
    assert_eq!(
        (got.topic.as_str(), got.retain, &got.payload[..]),
        ("r311/a", true, &b"kept"[..])
    );
    doomed.task.abort();
    let got = sub.publish().await;
    assert_eq!(
        (got.topic.as_str(), &got.payload[..]),
        ("r311/will", &b"doomed left"[..])
    );
}

#[tokio::test]
async fn v311_persistent_session_keeps_messages() {
    let s = common::start().await;
    let mut o = options(s.mqtt, "keeper");
    o.set_clean_session(false);
    let (mut c, ack) = V4::connect(o.clone()).await;
    assert!(!ack.session_present);
    c.client.subscribe("p311", QoS::AtLeastOnce).await.unwrap();
    c.suback().await;
    c.client.disconnect().await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (p, _) = V4::connect(options(s.mqtt, "sender")).await;
    p.client
        .publish("p311", QoS::AtLeastOnce, false, "while away")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (mut c, ack) = V4::connect(o).await;
    assert!(ack.session_present);
    assert_eq!(&c.publish().await.payload[..], b"while away");
}

#[tokio::test]
async fn v311_empty_client_id_needs_a_clean_session() {
    let s = common::start().await;
    let mut raw = common::Raw::open(s.mqtt).await;
    raw.set_version(pubzub_core::ProtocolVersion::V311);
    // CONNECT 3.1.1, clean session 0, empty client id.
    raw.send_bytes(&[
        0x10, 0x0C, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x00, 0, 30, 0, 0,
    ])
    .await;
    match raw.recv().await {
        Some(pubzub_core::Packet::ConnAck(a)) => {
            assert_eq!(
                a.reason_code,
                pubzub_core::ReasonCode::ClientIdentifierNotValid
            )
        }
        other => panic!("expected CONNACK 2, got {other:?}"),
    }
}

#[tokio::test]
async fn a_malformed_v311_connect_gets_no_v5_shaped_connack() {
    use tokio::io::AsyncReadExt;
    let s = common::start().await;
    // CONNECT 3.1.1 with the reserved connect flag set (malformed), and the same as v5.
    let v311: &[u8] = &[
        0x10, 0x0C, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x03, 0, 30, 0, 0,
    ];
    let v5: &[u8] = &[
        0x10, 0x0D, 0, 4, b'M', b'Q', b'T', b'T', 5, 0x03, 0, 30, 0, 0, 0,
    ];
    let mut answers = Vec::new();
    for connect in [v311, v5] {
        let mut raw = common::Raw::open(s.mqtt).await;
        raw.send_bytes(connect).await;
        let mut got = Vec::new();
        tokio::time::timeout(common::WAIT, raw.stream.read_to_end(&mut got))
            .await
            .expect("the server closes the connection")
            .ok();
        answers.push(got);
    }
    assert_eq!(answers[0], b"", "3.1.1 has no return code for it: closed");
    assert_eq!(
        answers[1],
        [0x20, 0x03, 0, 0x81, 0],
        "v5: CONNACK 0x81 malformed"
    );
    assert_eq!(s.metric("pubzub_protocol_errors_total"), 2, "both counted");
}
