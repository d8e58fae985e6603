//! The client session against a scripted server: what it sends and when, packet by packet.

use bytes::BytesMut;
use pubzub_core::client::{ClientOptions, ClientSession, Event, TimerAction};
use pubzub_core::{
    Ack, ConnAck, Decoder, Packet, PacketId, ProtocolVersion, Publish, QoS, ReasonCode, SubAck,
    Timestamp, TopicFilter, TopicName, encode,
};

/// The server's side of the wire.
struct Server {
    decoder: Decoder,
}

impl Server {
    fn new() -> Server {
        Server {
            decoder: Decoder::default(),
        }
    }

    /// Every packet the session would write now (with an empty socket buffer).
    fn take(&mut self, s: &mut ClientSession, now: u64) -> Vec<Packet> {
        let mut out = Vec::new();
        while let Some(bytes) = s.poll_transmit(0, Timestamp(now)) {
            let mut buf = BytesMut::from(&bytes[..]);
            while let Some(p) = self.decoder.decode(&mut buf).expect("valid packets") {
                out.push(p);
            }
        }
        out
    }

    fn send(&self, s: &mut ClientSession, packet: Packet, now: u64) {
        let mut buf = BytesMut::new();
        encode(&packet, ProtocolVersion::V5, &mut buf).unwrap();
        s.on_bytes(&mut buf, Timestamp(now)).unwrap();
    }
}

fn connack(session_present: bool, receive_maximum: u16) -> Packet {
    let mut ack = ConnAck {
        session_present,
        ..ConnAck::default()
    };
    ack.properties.receive_maximum = std::num::NonZeroU16::new(receive_maximum);
    ack.properties.assigned_client_identifier = Some("assigned-1".into());
    Packet::ConnAck(ack)
}

fn publish(topic: &str, qos: QoS) -> Publish {
    let mut p = Publish::new(TopicName::try_from(topic).unwrap(), "x");
    p.qos = qos;
    p
}

fn pid(n: u16) -> PacketId {
    PacketId::new(n).unwrap()
}

fn events(s: &mut ClientSession) -> Vec<Event> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

/// A session that connected once (as `assigned-1`) and holds `f` QoS 1 messages in flight.
fn connected(receive_maximum: u16) -> (ClientSession, Server) {
    let mut s = ClientSession::new(ClientOptions::default());
    let mut server = Server::new();
    s.on_open(Timestamp(0));
    let sent = server.take(&mut s, 0);
    assert!(matches!(&sent[..], [Packet::Connect(c)] if c.clean_start && c.client_id.is_empty()));
    server.send(&mut s, connack(false, receive_maximum), 0);
    events(&mut s);
    (s, server)
}

fn topics(packets: Vec<Packet>) -> Vec<String> {
    packets
        .into_iter()
        .filter_map(|p| match p {
            Packet::Publish(p) => Some(p.topic.to_string()),
            _ => None,
        })
        .collect()
}

#[test]
fn the_receive_maximum_holds_back_qos1_in_order() {
    let (mut s, mut server) = connected(1);
    s.publish(1, publish("a", QoS::AtLeastOnce));
    s.publish(2, publish("b", QoS::AtMostOnce));
    s.publish(3, publish("c", QoS::AtLeastOnce));
    s.publish(4, publish("d", QoS::AtMostOnce));
    assert_eq!(
        topics(server.take(&mut s, 1)),
        ["a", "b"],
        "c waits for a window, d behind it"
    );
    server.send(&mut s, Packet::PubAck(Ack::new(pid(1))), 2);
    assert_eq!(topics(server.take(&mut s, 2)), ["c", "d"]);
}

#[test]
fn a_resumed_session_resends_with_dup_and_pubrel() {
    let (mut s, mut server) = connected(10);
    s.publish(1, publish("one", QoS::AtLeastOnce));
    s.publish(2, publish("two", QoS::ExactlyOnce));
    let first = server.take(&mut s, 1);
    assert_eq!(first.len(), 2);
    server.send(&mut s, Packet::PubRec(Ack::new(pid(2))), 1);
    assert!(matches!(&server.take(&mut s, 1)[..], [Packet::PubRel(_)]));
    s.on_close();

    s.on_open(Timestamp(5));
    let sent = server.take(&mut s, 5);
    assert!(
        matches!(&sent[..], [Packet::Connect(c)] if !c.clean_start && c.client_id.as_str() == "assigned-1"),
        "resume with the assigned id: {sent:?}"
    );
    server.send(&mut s, connack(true, 10), 5);
    let sent = server.take(&mut s, 5);
    match &sent[..] {
        [Packet::Publish(p), Packet::PubRel(rel)] => {
            assert!(p.dup && p.packet_id == Some(pid(1)) && p.topic.as_str() == "one");
            assert_eq!(rel.packet_id, pid(2));
        }
        other => panic!("expected the resend, got {other:?}"),
    }
    server.send(&mut s, Packet::PubAck(Ack::new(pid(1))), 6);
    server.send(&mut s, Packet::PubComp(Ack::new(pid(2))), 6);
    let settled: Vec<_> = events(&mut s)
        .into_iter()
        .filter_map(|e| match e {
            Event::Published { token, result } => Some((token, result)),
            _ => None,
        })
        .collect();
    assert_eq!(settled, [(1, Ok(())), (2, Ok(()))]);
}

#[test]
fn a_lost_session_requeues_in_flight_messages_first_and_resubscribes() {
    let (mut s, mut server) = connected(10);
    s.subscribe(TopicFilter::try_from("news/#").unwrap(), QoS::AtLeastOnce);
    s.publish(1, publish("first", QoS::AtLeastOnce));
    server.take(&mut s, 1);
    s.on_close();
    s.publish(2, publish("second", QoS::AtLeastOnce));
    s.on_open(Timestamp(2));
    server.take(&mut s, 2);
    server.send(&mut s, connack(false, 10), 2);
    let sent = server.take(&mut s, 2);
    let summary: Vec<String> = sent
        .iter()
        .map(|p| match p {
            Packet::Subscribe(sub) => format!("SUBSCRIBE {}", sub.filters[0].filter),
            Packet::Publish(p) => format!("PUBLISH {} dup={}", p.topic, p.dup),
            other => format!("{:?}", other.packet_type()),
        })
        .collect();
    assert_eq!(
        summary,
        [
            "SUBSCRIBE news/#",
            "PUBLISH first dup=false",
            "PUBLISH second dup=false"
        ]
    );
}

#[test]
fn nothing_goes_while_the_socket_buffer_is_over_the_high_water_mark() {
    let (mut s, _server) = connected(10);
    s.publish(1, publish("a", QoS::AtMostOnce));
    assert!(s.poll_transmit(64 * 1024, Timestamp(1)).is_none());
    assert!(s.poll_transmit(100, Timestamp(1)).is_some());
}

#[test]
fn incoming_qos2_is_delivered_once_and_released() {
    let (mut s, mut server) = connected(10);
    let mut p = publish("in", QoS::ExactlyOnce);
    p.packet_id = Some(pid(9));
    server.send(&mut s, Packet::Publish(p.clone()), 1);
    p.dup = true;
    server.send(&mut s, Packet::Publish(p), 1);
    let delivered = events(&mut s)
        .into_iter()
        .filter(|e| matches!(e, Event::Message(_)))
        .count();
    assert_eq!(delivered, 1);
    assert!(matches!(
        &server.take(&mut s, 1)[..],
        [Packet::PubRec(_), Packet::PubRec(_)]
    ));
    server.send(&mut s, Packet::PubRel(Ack::new(pid(9))), 2);
    assert!(matches!(&server.take(&mut s, 2)[..], [Packet::PubComp(c)] if c.packet_id == pid(9)));
}

#[test]
fn suback_codes_are_reported() {
    let (mut s, mut server) = connected(10);
    s.subscribe(TopicFilter::try_from("secret/#").unwrap(), QoS::AtMostOnce);
    let id = match &server.take(&mut s, 1)[..] {
        [Packet::Subscribe(sub)] => sub.packet_id,
        other => panic!("{other:?}"),
    };
    server.send(
        &mut s,
        Packet::SubAck(SubAck {
            packet_id: id,
            properties: Default::default(),
            reason_codes: vec![ReasonCode::NotAuthorized],
        }),
        1,
    );
    assert_eq!(
        events(&mut s),
        [Event::Subscribed(vec![ReasonCode::NotAuthorized])]
    );
}

#[test]
fn keep_alive_pings_when_idle_and_gives_up_without_pingresp() {
    let (mut s, mut server) = connected(10);
    assert_eq!(s.next_timer(), Some(Timestamp(30_000)));
    assert_eq!(s.on_timer(Timestamp(29_999)), TimerAction::Nothing);
    assert_eq!(s.on_timer(Timestamp(30_000)), TimerAction::Nothing);
    assert!(matches!(
        &server.take(&mut s, 30_000)[..],
        [Packet::PingReq]
    ));
    server.send(&mut s, Packet::PingResp, 30_100);
    assert_eq!(s.next_timer(), Some(Timestamp(60_000)));
    s.on_timer(Timestamp(60_000));
    server.take(&mut s, 60_000);
    assert_eq!(s.on_timer(Timestamp(74_999)), TimerAction::Nothing);
    assert_eq!(s.on_timer(Timestamp(75_000)), TimerAction::CloseTransport);
}

#[test]
fn leaving_asks_for_the_wills_at_once() {
    let (mut s, _server) = connected(10);
    let bytes = s.leave().unwrap();
    let mut decoder = Decoder::default();
    decoder.set_version(ProtocolVersion::V5);
    match decoder.decode(&mut BytesMut::from(&bytes[..])).unwrap() {
        Some(Packet::Disconnect(d)) => {
            assert_eq!(d.reason_code, ReasonCode::DisconnectWithWillMessage);
            assert_eq!(d.properties.session_expiry_interval, Some(0));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn what_is_asked_before_the_options_are_set_is_kept() {
    let mut s = ClientSession::new(ClientOptions::default());
    s.subscribe(TopicFilter::try_from("early/#").unwrap(), QoS::AtLeastOnce);
    s.publish(1, publish("early/hello", QoS::AtLeastOnce));
    s.set_options(ClientOptions {
        client_id: "page-1".into(),
        ..ClientOptions::default()
    });
    let mut server = Server::new();
    s.on_open(Timestamp(0));
    let sent = server.take(&mut s, 0);
    assert!(matches!(&sent[..], [Packet::Connect(c)] if c.client_id.as_str() == "page-1"));
    server.send(&mut s, connack(false, 10), 0);
    let sent = server.take(&mut s, 0);
    assert!(
        matches!(&sent[..], [Packet::Subscribe(sub), Packet::Publish(p)]
            if sub.filters[0].filter.as_str() == "early/#" && p.topic.as_str() == "early/hello"),
        "{sent:?}"
    );
}
