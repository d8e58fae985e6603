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
        s.on_bytes(&buf, Timestamp(now)).unwrap();
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

/// A SUBACK for the SUBSCRIBE `packet_id` with one reason code.
fn suback(packet_id: PacketId, code: ReasonCode) -> Packet {
    Packet::SubAck(SubAck {
        packet_id,
        properties: Default::default(),
        reason_codes: vec![code],
    })
}

/// The one MQTT v5 packet in `bytes`.
fn decode_one(bytes: &[u8]) -> Option<Packet> {
    let mut decoder = Decoder::default();
    decoder.set_version(ProtocolVersion::V5);
    decoder.decode(&mut BytesMut::from(bytes)).unwrap()
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
    server.send(&mut s, suback(id, ReasonCode::NotAuthorized), 1);
    assert_eq!(
        events(&mut s),
        [Event::Subscribed {
            filter: "secret/#".into(),
            result: Err(ReasonCode::NotAuthorized)
        }]
    );
    assert_eq!(s.subscriptions().count(), 0, "a refused filter is not kept");
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
    match decode_one(&s.leave().unwrap()) {
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

/// `packets` as one byte string, as a server would write them.
fn wire(packets: &[Packet]) -> Vec<u8> {
    let mut buf = BytesMut::new();
    for p in packets {
        encode(p, ProtocolVersion::V5, &mut buf).unwrap();
    }
    buf.to_vec()
}

fn message(topic: &str, payload: &str) -> Packet {
    Packet::Publish(Publish::new(
        TopicName::try_from(topic).unwrap(),
        payload.to_owned(),
    ))
}

fn delivered(events: Vec<Event>) -> Vec<String> {
    events
        .into_iter()
        .filter_map(|e| match e {
            Event::Message(p) => Some(format!(
                "{}={}",
                p.topic,
                String::from_utf8_lossy(&p.payload)
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn a_packet_split_at_every_byte_boundary_is_put_back_together() {
    let bytes = wire(&[
        connack(false, 10),
        message("a/b", "hello"),
        message("c", ""),
    ]);
    for cut in 1..bytes.len() {
        let mut s = ClientSession::new(ClientOptions::default());
        s.on_open(Timestamp(0));
        s.on_bytes(&bytes[..cut], Timestamp(0)).unwrap();
        s.on_bytes(&bytes[cut..], Timestamp(0)).unwrap();
        let got = events(&mut s);
        assert!(
            matches!(got.first(), Some(Event::Connected { .. })),
            "cut at {cut}: {got:?}"
        );
        assert_eq!(delivered(got), ["a/b=hello", "c="], "cut at {cut}");
    }
}

#[test]
fn one_byte_at_a_time_and_several_packets_at_once() {
    let bytes = wire(&[connack(false, 10), message("x", "1"), message("y", "2")]);
    let mut s = ClientSession::new(ClientOptions::default());
    s.on_open(Timestamp(0));
    for b in &bytes {
        s.on_bytes(std::slice::from_ref(b), Timestamp(0)).unwrap();
    }
    assert_eq!(delivered(events(&mut s)), ["x=1", "y=2"]);

    let mut s = ClientSession::new(ClientOptions::default());
    s.on_open(Timestamp(0));
    s.on_bytes(&bytes, Timestamp(0)).unwrap();
    assert_eq!(delivered(events(&mut s)), ["x=1", "y=2"]);
}

#[test]
fn a_new_connection_starts_with_an_empty_receive_buffer() {
    let (mut s, _server) = connected(10);
    let bytes = wire(&[message("lost", "tail")]);
    s.on_bytes(&bytes[..4], Timestamp(1)).unwrap();
    s.on_close();
    s.on_open(Timestamp(2));
    s.on_bytes(
        &wire(&[connack(true, 10), message("fresh", "x")]),
        Timestamp(2),
    )
    .unwrap();
    assert_eq!(delivered(events(&mut s)), ["fresh=x"]);
}

fn connack_with(max_packet_size: u32, topic_alias_maximum: u16) -> Packet {
    let mut ack = ConnAck::default();
    ack.properties.maximum_packet_size = std::num::NonZeroU32::new(max_packet_size);
    ack.properties.topic_alias_maximum = Some(topic_alias_maximum);
    ack.properties.assigned_client_identifier = Some("assigned-1".into());
    Packet::ConnAck(ack)
}

fn big(topic: &str, qos: QoS, size: usize) -> Publish {
    let mut p = Publish::new(TopicName::try_from(topic).unwrap(), vec![b'x'; size]);
    p.qos = qos;
    p
}

#[test]
fn a_publication_over_the_maximum_packet_size_fails_alone_and_leaves_no_trace() {
    let mut s = ClientSession::new(ClientOptions::default());
    let mut server = Server::new();
    s.on_open(Timestamp(0));
    server.take(&mut s, 0);
    server.send(&mut s, connack_with(1024, 10), 0);
    events(&mut s);

    // A QoS 1 message in flight, then a too-large QoS 0 and a too-large QoS 1 one on a new
    // topic, then a small one on that topic.
    s.publish(1, publish("small/in-flight", QoS::AtLeastOnce));
    s.publish(2, big("big/topic", QoS::AtMostOnce, 2000));
    s.publish(3, big("big/topic", QoS::AtLeastOnce, 1020));
    s.publish(4, publish("big/topic", QoS::AtLeastOnce));
    let sent = server.take(&mut s, 1);
    let publishes: Vec<&Publish> = sent
        .iter()
        .filter_map(|p| match p {
            Packet::Publish(p) => Some(p),
            _ => None,
        })
        .collect();
    assert_eq!(publishes.len(), 2, "{sent:?}");
    // The small message on the big topic carries its topic: the alias of the refused one was
    // not recorded, so nothing goes out alias-only.
    assert_eq!(publishes[1].topic.as_str(), "big/topic");
    assert!(publishes[1].payload.len() < 10);
    assert_eq!(
        events(&mut s),
        [
            Event::Published {
                token: 2,
                result: Err(ReasonCode::PacketTooLarge)
            },
            Event::Published {
                token: 3,
                result: Err(ReasonCode::PacketTooLarge)
            },
        ],
        "only the too-large ones fail; the one in flight stays"
    );
    server.send(
        &mut s,
        Packet::PubAck(Ack::new(publishes[0].packet_id.unwrap())),
        2,
    );
    server.send(
        &mut s,
        Packet::PubAck(Ack::new(publishes[1].packet_id.unwrap())),
        2,
    );
    assert_eq!(
        events(&mut s),
        [
            Event::Published {
                token: 1,
                result: Ok(())
            },
            Event::Published {
                token: 4,
                result: Ok(())
            },
        ]
    );
}

#[test]
fn each_filter_gets_its_answer_and_later_users_get_it_at_once() {
    let (mut s, mut server) = connected(10);
    s.subscribe(TopicFilter::try_from("ok/#").unwrap(), QoS::AtLeastOnce);
    s.subscribe(TopicFilter::try_from("ok/#").unwrap(), QoS::AtMostOnce);
    let id = match &server.take(&mut s, 1)[..] {
        [Packet::Subscribe(sub)] => sub.packet_id,
        other => panic!("one SUBSCRIBE for two users: {other:?}"),
    };
    assert_eq!(events(&mut s), [], "the answer waits for the SUBACK");
    server.send(&mut s, suback(id, ReasonCode::GrantedQoS1), 1);
    let granted = Event::Subscribed {
        filter: "ok/#".into(),
        result: Ok(QoS::AtLeastOnce),
    };
    assert_eq!(events(&mut s), std::slice::from_ref(&granted));
    s.subscribe(TopicFilter::try_from("ok/#").unwrap(), QoS::AtMostOnce);
    assert_eq!(events(&mut s), [granted]);
    assert!(server.take(&mut s, 2).is_empty());
    assert_eq!(s.subscriptions().collect::<Vec<_>>(), [("ok/#", 3)]);
}

#[test]
fn a_resumed_session_sends_what_changed_offline() {
    let (mut s, mut server) = connected(10);
    s.subscribe(TopicFilter::try_from("kept").unwrap(), QoS::AtMostOnce);
    s.subscribe(TopicFilter::try_from("dropped").unwrap(), QoS::AtMostOnce);
    let id = match &server.take(&mut s, 1)[..] {
        [Packet::Subscribe(a), Packet::Subscribe(b)] => [a.packet_id, b.packet_id],
        other => panic!("{other:?}"),
    };
    for id in id {
        server.send(&mut s, suback(id, ReasonCode::Success), 1);
    }
    s.on_close();
    s.unsubscribe(&TopicFilter::try_from("dropped").unwrap());
    s.subscribe(TopicFilter::try_from("added").unwrap(), QoS::AtMostOnce);
    s.on_open(Timestamp(2));
    server.take(&mut s, 2);
    server.send(&mut s, connack(true, 10), 2);
    let sent: Vec<String> = server
        .take(&mut s, 2)
        .iter()
        .map(|p| match p {
            Packet::Subscribe(sub) => format!("SUBSCRIBE {}", sub.filters[0].filter),
            Packet::Unsubscribe(u) => format!("UNSUBSCRIBE {}", u.filters[0]),
            other => format!("{:?}", other.packet_type()),
        })
        .collect();
    assert_eq!(sent, ["SUBSCRIBE added", "UNSUBSCRIBE dropped"]);
}

#[test]
fn cancelled_publications_are_each_reported() {
    let (mut s, mut server) = connected(1);
    s.publish(1, publish("in-flight", QoS::AtLeastOnce));
    s.publish(2, publish("queued", QoS::AtLeastOnce));
    server.take(&mut s, 1);
    s.cancel_publications();
    assert_eq!(
        events(&mut s),
        [Event::Cancelled { token: 2 }, Event::Cancelled { token: 1 }]
    );
    assert_eq!(s.queued(), 0);
    s.on_close();
    s.on_open(Timestamp(2));
    server.take(&mut s, 2);
    server.send(&mut s, connack(true, 10), 2);
    assert!(server.take(&mut s, 2).is_empty(), "nothing is resent");
}

#[test]
fn a_clean_disconnect_says_normal_disconnection() {
    let (mut s, _server) = connected(10);
    match decode_one(&s.disconnect().unwrap()) {
        Some(Packet::Disconnect(d)) => assert_eq!(d.reason_code, ReasonCode::Success),
        other => panic!("{other:?}"),
    }
}

/// A PUBLISH from the server with this topic (empty: by alias alone) and topic alias.
fn aliased(topic: &str, alias: u16, payload: &str) -> Packet {
    let topic = if topic.is_empty() {
        TopicName::alias_only()
    } else {
        TopicName::try_from(topic).unwrap()
    };
    let mut p = Publish::new(topic, payload.to_owned());
    p.properties.topic_alias = std::num::NonZeroU16::new(alias);
    Packet::Publish(p)
}

#[test]
fn the_servers_topic_aliases_are_resolved_and_a_bad_one_ends_the_connection() {
    let mut s = ClientSession::new(ClientOptions::default());
    s.on_open(Timestamp(0));
    let Some(Packet::Connect(c)) = s
        .poll_transmit(0, Timestamp(0))
        .and_then(|b| decode_one(&b))
    else {
        panic!("CONNECT first");
    };
    assert_eq!(c.properties.topic_alias_maximum, Some(64), "announced");
    let bytes = wire(&[
        connack(false, 10),
        aliased("a/long/topic", 7, "1"),
        aliased("", 7, "2"),
    ]);
    s.on_bytes(&bytes, Timestamp(0)).unwrap();
    assert_eq!(
        delivered(events(&mut s)),
        ["a/long/topic=1", "a/long/topic=2"]
    );
    // An alias never set is a protocol error; one over the maximum is 0x94.
    let unknown = s.on_bytes(&wire(&[aliased("", 8, "3")]), Timestamp(0));
    assert_eq!(
        unknown.map_err(|e| e.reason_code()),
        Err(ReasonCode::ProtocolError)
    );
    let over = s.on_bytes(&wire(&[aliased("b", 65, "4")]), Timestamp(0));
    assert_eq!(
        over.map_err(|e| e.reason_code()),
        Err(ReasonCode::TopicAliasInvalid)
    );
    // A new connection starts without the old aliases.
    s.on_close();
    s.on_open(Timestamp(1));
    s.on_bytes(&wire(&[connack(true, 10)]), Timestamp(1))
        .unwrap();
    assert!(
        s.on_bytes(&wire(&[aliased("", 7, "5")]), Timestamp(1))
            .is_err()
    );
}
