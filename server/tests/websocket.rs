//! MQTT over WebSocket at the byte level: the subprotocol (required), packets split across
//! frames and frames holding several packets, text frames refused, and messages over the
//! maximum packet size answered with DISCONNECT 0x95 and close code 1009.

mod common;

use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use pubzub_core::{
    Decoder, Packet, PacketId, ProtocolVersion, Publish, QoS, ReasonCode, TopicName, encode,
};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open(addr: std::net::SocketAddr) -> Ws {
    let mut req = format!("ws://{addr}/mqtt-transport")
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("Sec-WebSocket-Protocol", "mqtt".parse().unwrap());
    let (ws, response) = tokio_tungstenite::connect_async(req)
        .await
        .expect("upgrade");
    assert_eq!(
        response
            .headers()
            .get("Sec-WebSocket-Protocol")
            .map(|v| v.to_str().unwrap()),
        Some("mqtt"),
        "the server answers the mqtt subprotocol"
    );
    ws
}

fn bytes_of(packets: &[Packet]) -> Vec<u8> {
    let mut out = BytesMut::new();
    for p in packets {
        encode(p, ProtocolVersion::V5, &mut out).unwrap();
    }
    out.to_vec()
}

fn connect_packet(id: &str) -> Packet {
    Packet::Connect(Box::new(common::connect_packet(id)))
}

/// Reads binary frames until `n` packets have been decoded.
async fn packets(ws: &mut Ws, n: usize) -> Vec<Packet> {
    let mut decoder = Decoder::new(u32::MAX);
    decoder.set_version(ProtocolVersion::V5);
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    while got.len() < n {
        while let Some(p) = decoder.decode(&mut buf).unwrap() {
            got.push(p);
        }
        if got.len() >= n {
            break;
        }
        match tokio::time::timeout(common::WAIT, ws.next())
            .await
            .expect("in time")
        {
            Some(Ok(Message::Binary(b))) => buf.extend_from_slice(&b),
            other => panic!("expected a binary frame, got {other:?}"),
        }
    }
    got
}

#[tokio::test]
async fn packets_split_across_frames_and_batched_in_one() {
    let s = common::start().await;
    let mut ws = open(s.http).await;
    // CONNECT in three frames of a few bytes.
    let connect = bytes_of(&[connect_packet("ws-split")]);
    for piece in connect.chunks(5) {
        ws.send(Message::Binary(piece.to_vec().into()))
            .await
            .unwrap();
    }
    assert!(matches!(
        packets(&mut ws, 1).await[..],
        [Packet::ConnAck(_)]
    ));

    // SUBSCRIBE and two PUBLISHes to itself in one frame.
    let subscribe = Packet::Subscribe(pubzub_core::Subscribe {
        packet_id: PacketId::new(1).unwrap(),
        properties: Default::default(),
        filters: vec![pubzub_core::SubscribeFilter {
            filter: "ws/#".try_into().unwrap(),
            options: pubzub_core::SubscriptionOptions {
                qos: QoS::AtLeastOnce,
                ..Default::default()
            },
        }],
    });
    let mut one = Publish::new(TopicName::try_from("ws/1").unwrap(), "first");
    one.qos = QoS::AtLeastOnce;
    one.packet_id = PacketId::new(2);
    let two = Publish::new(TopicName::try_from("ws/2").unwrap(), "second");
    let batch = bytes_of(&[subscribe, Packet::Publish(one), Packet::Publish(two)]);
    ws.send(Message::Binary(batch.into())).await.unwrap();

    let got = packets(&mut ws, 4).await;
    let mut publishes = Vec::new();
    let mut acks = 0;
    for p in got {
        match p {
            Packet::SubAck(_) | Packet::PubAck(_) => acks += 1,
            Packet::Publish(p) => publishes.push((p.topic.to_string(), p.payload)),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(acks, 2);
    assert_eq!(
        publishes,
        [
            ("ws/1".to_string(), "first".into()),
            ("ws/2".to_string(), "second".into())
        ]
    );
}

#[tokio::test]
async fn a_text_frame_closes_the_connection() {
    let s = common::start().await;
    let mut ws = connected(s.http, "ws-text").await;
    ws.send(Message::Text("hello".into())).await.unwrap();
    // [MQTT-6.0.0-1]: DISCONNECT 0x81 (malformed), then close code 1002 (protocol error).
    assert_eq!(
        disconnect_then_close(&mut ws).await,
        (ReasonCode::MalformedPacket, 1002)
    );
}

#[tokio::test]
async fn an_upgrade_without_the_mqtt_subprotocol_is_refused() {
    let s = common::start().await;
    for offered in [None, Some("foo"), Some("mqttv3.1"), Some("mqtt-ish, foo")] {
        let mut req = format!("ws://{}/mqtt-transport", s.http)
            .into_client_request()
            .unwrap();
        if let Some(p) = offered {
            req.headers_mut()
                .insert("Sec-WebSocket-Protocol", p.parse().unwrap());
        }
        match tokio_tungstenite::connect_async(req).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 400, "{offered:?}");
            }
            other => panic!(
                "{offered:?}: expected HTTP 400, got {:?}",
                other.map(|(_, r)| r)
            ),
        }
    }
    // "mqtt" among others is selected.
    let mut req = format!("ws://{}/mqtt-transport", s.http)
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("Sec-WebSocket-Protocol", "foo, mqtt".parse().unwrap());
    let (_ws, response) = tokio_tungstenite::connect_async(req)
        .await
        .expect("upgrade");
    assert_eq!(response.headers()["Sec-WebSocket-Protocol"], "mqtt");
}

/// A WebSocket whose CONNECT as `id` got its CONNACK.
async fn connected(addr: std::net::SocketAddr, id: &str) -> Ws {
    let mut ws = open(addr).await;
    ws.send(Message::Binary(bytes_of(&[connect_packet(id)]).into()))
        .await
        .unwrap();
    assert!(matches!(
        packets(&mut ws, 1).await[..],
        [Packet::ConnAck(_)]
    ));
    ws
}

/// The code of the close frame that comes next.
async fn close_code(ws: &mut Ws) -> u16 {
    let close = tokio::time::timeout(common::WAIT, ws.next())
        .await
        .expect("closes in time");
    let Some(Ok(Message::Close(Some(frame)))) = close else {
        panic!("expected a close frame, got {close:?}");
    };
    frame.code.into()
}

/// The reason code of the DISCONNECT that comes next, and the close frame's code after it.
async fn disconnect_then_close(ws: &mut Ws) -> (ReasonCode, u16) {
    let Packet::Disconnect(d) = packets(ws, 1).await.remove(0) else {
        panic!("expected DISCONNECT");
    };
    (d.reason_code, close_code(ws).await)
}

#[tokio::test]
async fn a_message_over_the_maximum_packet_size_gets_0x95_and_close_code_1009() {
    let s = common::start_with(|c| c.limits.max_packet_size = 4096).await;
    let mut ws = connected(s.http, "ws-big").await;
    // One WebSocket message of 64 KiB, far over the 4 KiB maximum.
    let big = Publish::new(TopicName::try_from("ws/big").unwrap(), vec![7u8; 64 * 1024]);
    ws.send(Message::Binary(bytes_of(&[Packet::Publish(big)]).into()))
        .await
        .unwrap();
    assert_eq!(
        disconnect_then_close(&mut ws).await,
        (ReasonCode::PacketTooLarge, 1009)
    );
    // The server goes on serving others.
    let (_c, ack) = common::Raw::connect(s.mqtt, "after-the-big-one").await;
    assert_eq!(ack.reason_code, ReasonCode::Success);
}

#[tokio::test]
async fn a_connect_over_the_maximum_packet_size_is_closed_with_code_1009() {
    let s = common::start_with(|c| c.limits.max_packet_size = 4096).await;
    let mut ws = open(s.http).await;
    ws.send(Message::Binary(vec![0x10; 64 * 1024].into()))
        .await
        .unwrap();
    assert_eq!(close_code(&mut ws).await, 1009);
}
