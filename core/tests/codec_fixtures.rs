//! Hex fixtures for every packet type, laid out after the byte tables of the MQTT v5.0 and
//! 3.1.1 specifications. Each valid fixture must decode to the expected values and encode back
//! to the same bytes; each invalid one must fail with the named reason code.

mod common;

use std::num::NonZeroU16;

use bytes::{Bytes, BytesMut};
use common::{decode_one, encode_to_vec, hex};
use pubzub_core::{
    ByteStr, DecodeError, Decoder, Packet, PacketId, PacketType, PropertyId, ProtocolVersion::*,
    QoS, ReasonCode, RetainHandling, SubscriptionId, TopicName, topic::TopicError,
};

fn pid(n: u16) -> PacketId {
    PacketId::new(n).unwrap()
}

fn s(v: &str) -> ByteStr {
    ByteStr::from(v)
}

/// Decodes, checks with `expect`, and encodes back to the identical bytes.
fn round_trip(bytes: &str, version: pubzub_core::ProtocolVersion, expect: impl FnOnce(&Packet)) {
    let bytes = hex(bytes);
    let packet = decode_one(&bytes, version).unwrap_or_else(|e| panic!("{e}"));
    expect(&packet);
    assert_eq!(encode_to_vec(&packet, version), bytes, "{packet:?}");
}

#[test]
fn connect_v5_with_session_expiry_and_credentials() {
    round_trip(
        "10 1B 00 04 4D 51 54 54 05 C2 00 0A 05 11 00 00 00 0A 00 02 63 31 00 01 75 00 02 70 77",
        V5,
        |p| {
            let Packet::Connect(c) = p else {
                panic!("{p:?}")
            };
            assert_eq!(c.protocol, V5);
            assert!(c.clean_start);
            assert_eq!(c.keep_alive, 10);
            assert_eq!(c.properties.session_expiry_interval, Some(10));
            assert_eq!(c.client_id, "c1");
            assert_eq!(c.username.as_deref(), Some("u"));
            assert_eq!(c.password.as_deref(), Some(&b"pw"[..]));
            assert!(c.will.is_none());
        },
    );
}

#[test]
fn connect_v311_with_will() {
    round_trip(
        "10 15 00 04 4D 51 54 54 04 2E 00 3C 00 01 63 00 01 77 00 03 62 79 65",
        V311,
        |p| {
            let Packet::Connect(c) = p else {
                panic!("{p:?}")
            };
            assert_eq!(c.protocol, V311);
            let will = c.will.as_ref().unwrap();
            assert_eq!(will.topic.as_str(), "w");
            assert_eq!(&will.payload[..], b"bye");
            assert_eq!(will.qos, QoS::AtLeastOnce);
            assert!(will.retain);
            assert_eq!(c.keep_alive, 60);
        },
    );
}

#[test]
fn connect_v5_will_properties() {
    // Will properties: will delay 5, content type "t"; will topic "w", payload "x".
    round_trip(
        "10 1E 00 04 4D 51 54 54 05 06 00 00 00 00 01 63 09 18 00 00 00 05 03 00 01 74 00 01 77 00 01 78",
        V5,
        |p| {
            let Packet::Connect(c) = p else {
                panic!("{p:?}")
            };
            let will = c.will.as_ref().unwrap();
            assert_eq!(will.properties.will_delay_interval, Some(5));
            assert_eq!(will.properties.content_type.as_deref(), Some("t"));
            assert_eq!(will.qos, QoS::AtMostOnce);
        },
    );
}

#[test]
fn connack_v5_with_properties_and_v311_return_codes() {
    round_trip(
        "20 13 00 00 10 21 00 0A 12 00 03 61 62 63 26 00 01 6B 00 01 76",
        V5,
        |p| {
            let Packet::ConnAck(c) = p else {
                panic!("{p:?}")
            };
            assert_eq!(c.reason_code, ReasonCode::Success);
            assert_eq!(
                c.properties.assigned_client_identifier.as_deref(),
                Some("abc")
            );
            assert_eq!(c.properties.receive_maximum, NonZeroU16::new(10));
            assert_eq!(c.properties.user_properties, vec![(s("k"), s("v"))]);
        },
    );
    round_trip("20 02 01 00", V311, |p| {
        let Packet::ConnAck(c) = p else {
            panic!("{p:?}")
        };
        assert!(c.session_present);
    });
    round_trip("20 02 00 05", V311, |p| {
        assert!(matches!(p, Packet::ConnAck(c) if c.reason_code == ReasonCode::NotAuthorized));
    });
    round_trip("20 03 00 86 00", V5, |p| {
        assert!(
            matches!(p, Packet::ConnAck(c) if c.reason_code == ReasonCode::BadUserNameOrPassword)
        );
    });
}

#[test]
fn publish_v5_qos1_with_two_subscription_identifiers() {
    round_trip(
        "32 18 00 03 61 2F 62 00 0A 0E 02 00 00 00 3C 03 00 01 74 0B 05 0B 81 01 68 69",
        V5,
        |p| {
            let Packet::Publish(m) = p else {
                panic!("{p:?}")
            };
            assert_eq!(m.qos, QoS::AtLeastOnce);
            assert_eq!(m.packet_id, Some(pid(10)));
            assert_eq!(m.topic.as_str(), "a/b");
            assert_eq!(m.properties.message_expiry_interval, Some(60));
            assert_eq!(m.properties.content_type.as_deref(), Some("t"));
            let ids: Vec<u32> = m
                .properties
                .subscription_identifiers
                .iter()
                .map(|i| i.get())
                .collect();
            assert_eq!(ids, [5, 129]);
            assert_eq!(&m.payload[..], b"hi");
        },
    );
}

#[test]
fn publish_v311_retained_qos0_and_v5_alias_only() {
    round_trip("31 05 00 01 74 78 79", V311, |p| {
        let Packet::Publish(m) = p else {
            panic!("{p:?}")
        };
        assert!(m.retain && !m.dup && m.packet_id.is_none());
        assert_eq!(&m.payload[..], b"xy");
    });
    // Zero-length topic with Topic Alias 1 [MQTT-3.3.2.3.4].
    round_trip("3C 09 00 00 00 07 03 23 00 01 7A", V5, |p| {
        let Packet::Publish(m) = p else {
            panic!("{p:?}")
        };
        assert!(m.dup && m.qos == QoS::ExactlyOnce);
        assert!(m.topic.is_empty());
        assert_eq!(m.properties.topic_alias, NonZeroU16::new(1));
    });
}

#[test]
fn pub_acks_short_and_long_forms() {
    round_trip("40 02 00 01", V5, |p| {
        assert_eq!(*p, Packet::PubAck(pubzub_core::Ack::new(pid(1))))
    });
    round_trip("40 03 00 01 10", V5, |p| {
        assert!(
            matches!(p, Packet::PubAck(a) if a.reason_code == ReasonCode::NoMatchingSubscribers)
        );
    });
    round_trip("50 08 00 02 87 04 1F 00 01 78", V5, |p| {
        let Packet::PubRec(a) = p else {
            panic!("{p:?}")
        };
        assert_eq!(a.reason_code, ReasonCode::NotAuthorized);
        assert_eq!(a.properties.reason_string.as_deref(), Some("x"));
    });
    round_trip("62 02 00 03", V311, |p| {
        assert!(matches!(p, Packet::PubRel(a) if a.packet_id == pid(3)))
    });
    round_trip("62 03 00 03 92", V5, |p| {
        assert!(
            matches!(p, Packet::PubRel(a) if a.reason_code == ReasonCode::PacketIdentifierNotFound)
        );
    });
    round_trip("70 02 00 03", V5, |p| {
        assert!(matches!(p, Packet::PubComp(_)))
    });
}

#[test]
fn subscribe_v5_options_and_shared_filter() {
    round_trip(
        "82 18 00 0B 02 0B 01 00 03 61 2F 2B 2D 00 0A 24 73 68 61 72 65 2F 67 2F 78 00",
        V5,
        |p| {
            let Packet::Subscribe(sub) = p else {
                panic!("{p:?}")
            };
            assert_eq!(sub.packet_id, pid(11));
            assert_eq!(
                sub.properties.subscription_identifier,
                SubscriptionId::new(1)
            );
            let o = sub.filters[0].options;
            assert_eq!(sub.filters[0].filter.as_str(), "a/+");
            assert_eq!(o.qos, QoS::AtLeastOnce);
            assert!(o.no_local && o.retain_as_published);
            assert_eq!(o.retain_handling, RetainHandling::DoNotSend);
            assert_eq!(sub.filters[1].filter.shared().unwrap().group, "g");
        },
    );
    round_trip("82 08 00 01 00 03 61 2F 23 02", V311, |p| {
        let Packet::Subscribe(sub) = p else {
            panic!("{p:?}")
        };
        assert_eq!(sub.filters[0].options.qos, QoS::ExactlyOnce);
    });
}

#[test]
fn suback_and_unsuback() {
    round_trip("90 05 00 0B 00 01 87", V5, |p| {
        let Packet::SubAck(a) = p else {
            panic!("{p:?}")
        };
        assert_eq!(
            a.reason_codes,
            [ReasonCode::GrantedQoS1, ReasonCode::NotAuthorized]
        );
    });
    round_trip("90 04 00 01 00 80", V311, |p| {
        let Packet::SubAck(a) = p else {
            panic!("{p:?}")
        };
        assert_eq!(
            a.reason_codes,
            [ReasonCode::Success, ReasonCode::UnspecifiedError]
        );
    });
    round_trip("A2 07 00 0C 00 00 02 61 62", V5, |p| {
        let Packet::Unsubscribe(u) = p else {
            panic!("{p:?}")
        };
        assert_eq!(u.filters[0].as_str(), "ab");
    });
    round_trip("B0 04 00 0C 00 11", V5, |p| {
        let Packet::UnsubAck(a) = p else {
            panic!("{p:?}")
        };
        assert_eq!(a.reason_codes, [ReasonCode::NoSubscriptionExisted]);
    });
    round_trip("B0 02 00 0C", V311, |p| {
        assert!(matches!(p, Packet::UnsubAck(a) if a.reason_codes.is_empty()))
    });
}

#[test]
fn ping_disconnect_and_auth() {
    round_trip("C0 00", V5, |p| assert_eq!(*p, Packet::PingReq));
    round_trip("D0 00", V311, |p| assert_eq!(*p, Packet::PingResp));
    round_trip("E0 00", V5, |p| {
        assert!(matches!(p, Packet::Disconnect(d) if d.reason_code == ReasonCode::Success))
    });
    round_trip("E0 00", V311, |p| {
        assert!(matches!(p, Packet::Disconnect(_)))
    });
    round_trip("E0 01 04", V5, |p| {
        assert!(
            matches!(p, Packet::Disconnect(d) if d.reason_code == ReasonCode::DisconnectWithWillMessage)
        );
    });
    round_trip("E0 07 04 05 11 00 00 00 00", V5, |p| {
        let Packet::Disconnect(d) = p else {
            panic!("{p:?}")
        };
        assert_eq!(d.properties.session_expiry_interval, Some(0));
    });
    round_trip("F0 00", V5, |p| assert!(matches!(p, Packet::Auth(_))));
    round_trip("F0 02 19 00", V5, |p| {
        assert!(matches!(p, Packet::Auth(a) if a.reason_code == ReasonCode::ReAuthenticate))
    });
    round_trip("F0 06 18 04 15 00 01 6D", V5, |p| {
        let Packet::Auth(a) = p else { panic!("{p:?}") };
        assert_eq!(a.reason_code, ReasonCode::ContinueAuthentication);
        assert_eq!(a.properties.authentication_method.as_deref(), Some("m"));
    });
}

#[test]
fn user_properties_keep_order_and_duplicate_keys() {
    // PUBLISH "t" with user properties (k,1) (k,2) (a,3).
    round_trip(
        "30 19 00 01 74 15 26 00 01 6B 00 01 31 26 00 01 6B 00 01 32 26 00 01 61 00 01 33",
        V5,
        |p| {
            let Packet::Publish(m) = p else {
                panic!("{p:?}")
            };
            assert_eq!(
                m.properties.user_properties,
                vec![(s("k"), s("1")), (s("k"), s("2")), (s("a"), s("3"))]
            );
        },
    );
}

/// Malformed and protocol-violating input: the error and the reason code to answer with.
#[test]
fn bad_input_names_its_reason_code() {
    use DecodeError as E;
    let cases: &[(&str, pubzub_core::ProtocolVersion, DecodeError, u8)] = &[
        // Reserved fixed-header flags [MQTT-2.1.3-1].
        (
            "80 08 00 01 00 03 61 2F 23 02",
            V5,
            E::InvalidFlags {
                packet: PacketType::Subscribe,
                flags: 0,
            },
            0x81,
        ),
        (
            "C1 00",
            V5,
            E::InvalidFlags {
                packet: PacketType::PingReq,
                flags: 1,
            },
            0x81,
        ),
        // QoS 3 [MQTT-3.3.1-4].
        ("36 05 00 01 74 00 01", V5, E::InvalidQoS, 0x81),
        // DUP on QoS 0 [MQTT-3.3.1-2].
        (
            "38 04 00 01 74 00",
            V5,
            E::InvalidFlags {
                packet: PacketType::Publish,
                flags: 8,
            },
            0x81,
        ),
        // Five-byte remaining length.
        ("30 80 80 80 80 01", V5, E::MalformedVarInt, 0x81),
        // Invalid UTF-8 and U+0000 in a topic.
        ("30 05 00 02 C3 28 00", V5, E::InvalidUtf8, 0x81),
        ("30 05 00 02 61 00 00", V5, E::NullCharacter, 0x81),
        // Wildcards in a topic name [MQTT-3.3.2-2].
        (
            "30 06 00 03 61 2F 2B 00",
            V5,
            E::InvalidTopicName(TopicError::WildcardInName),
            0x90,
        ),
        // Empty topic without a topic alias.
        (
            "30 03 00 00 00",
            V5,
            E::InvalidTopicName(TopicError::Empty),
            0x82,
        ),
        (
            "30 02 00 00",
            V311,
            E::InvalidTopicName(TopicError::Empty),
            0x82,
        ),
        // Packet identifier 0.
        ("40 02 00 00", V5, E::ZeroPacketId, 0x82),
        ("82 08 00 00 00 03 61 2F 23 02", V311, E::ZeroPacketId, 0x82),
        ("32 06 00 01 74 00 00 00", V5, E::ZeroPacketId, 0x82),
        // Content Type twice.
        (
            "30 0C 00 01 74 08 03 00 01 61 03 00 01 62",
            V5,
            E::DuplicateProperty(PropertyId::ContentType),
            0x82,
        ),
        // Session Expiry Interval in a PUBLISH.
        (
            "30 09 00 01 74 05 11 00 00 00 01",
            V5,
            E::PropertyNotAllowed {
                property: PropertyId::SessionExpiryInterval,
                packet: PacketType::Publish,
            },
            0x81,
        ),
        ("30 06 00 01 74 02 05 00", V5, E::UnknownProperty(5), 0x81),
        // A string length running past the packet; a property length running past the packet.
        ("30 04 00 0A 61 62", V5, E::UnexpectedEnd, 0x81),
        ("30 05 00 01 74 09 01", V5, E::UnexpectedEnd, 0x81),
        // Packet type 0; AUTH under 3.1.1.
        ("00 00", V5, E::InvalidPacketType(0), 0x81),
        ("F0 00", V311, E::InvalidPacketType(15), 0x81),
        // CONNECT: reserved flag, unknown level, will QoS without will flag, bad name.
        (
            "10 0D 00 04 4D 51 54 54 04 03 00 00 00 01 63",
            V5,
            E::InvalidConnectFlags(3),
            0x81,
        ),
        (
            "10 0D 00 04 4D 51 54 54 07 02 00 00 00 01 63",
            V5,
            E::UnsupportedProtocolVersion(7),
            0x84,
        ),
        (
            "10 0D 00 04 4D 51 54 54 04 0A 00 00 00 01 63",
            V5,
            E::InvalidConnectFlags(0x0A),
            0x81,
        ),
        (
            "10 0D 00 04 4D 51 54 58 04 02 00 00 00 01 63",
            V5,
            E::InvalidProtocolName,
            0x82,
        ),
        // Receive Maximum 0 in CONNECT.
        (
            "10 10 00 04 4D 51 54 54 05 02 00 00 03 21 00 00 00 00",
            V5,
            E::InvalidPropertyValue(PropertyId::ReceiveMaximum),
            0x82,
        ),
        // SUBSCRIBE without filters, with Retain Handling 3, with an invalid filter.
        (
            "82 03 00 01 00",
            V5,
            E::NoTopicFilters(PacketType::Subscribe),
            0x82,
        ),
        (
            "82 07 00 01 00 00 01 61 30",
            V5,
            E::InvalidSubscriptionOptions(0x30),
            0x81,
        ),
        (
            "82 06 00 01 00 01 61 04",
            V311,
            E::InvalidSubscriptionOptions(0x04),
            0x81,
        ),
        (
            "82 09 00 01 00 00 03 61 23 62 00",
            V5,
            E::InvalidTopicFilter(TopicError::MisplacedWildcard),
            0x8F,
        ),
        (
            "A2 03 00 01 00",
            V5,
            E::NoTopicFilters(PacketType::Unsubscribe),
            0x82,
        ),
        // Bytes after the end; a reason code PUBREL may not carry.
        ("C0 01 00", V5, E::TrailingBytes(1), 0x81),
        (
            "62 03 00 01 87",
            V5,
            E::InvalidReasonCode {
                packet: PacketType::PubRel,
                code: 0x87,
            },
            0x81,
        ),
        (
            "20 02 00 06",
            V311,
            E::InvalidReasonCode {
                packet: PacketType::ConnAck,
                code: 6,
            },
            0x81,
        ),
    ];
    for (bytes, version, error, code) in cases {
        let got = decode_one(&hex(bytes), *version).expect_err(bytes);
        assert_eq!(&got, error, "{bytes}");
        assert_eq!(got.reason_code() as u8, *code, "{bytes}: {got}");
    }
}

#[test]
fn too_large_is_refused_from_the_fixed_header_alone() {
    let mut decoder = Decoder::new(16);
    // Only two bytes have arrived; the header already says 100 more will follow.
    let mut buf = BytesMut::from(&hex("30 64")[..]);
    let err = decoder.decode(&mut buf).unwrap_err();
    assert_eq!(err, DecodeError::PacketTooLarge { size: 102, max: 16 });
    assert_eq!(err.reason_code(), ReasonCode::PacketTooLarge);
    assert!(buf.capacity() < 100, "nothing was allocated for the body");
}

#[test]
fn an_announced_large_packet_gets_no_memory_before_its_bytes() {
    let mut decoder = Decoder::default(); // the protocol's own limit, 256 MiB
    let mut buf = BytesMut::from(&hex("30 FF FF FF 7F")[..]);
    assert_eq!(decoder.decode(&mut buf), Ok(None));
    assert!(
        buf.capacity() <= 64 * 1024 + 5,
        "reserved {} bytes",
        buf.capacity()
    );
}

#[test]
fn stream_decoding_partial_and_several_packets() {
    let publish =
        hex("32 18 00 03 61 2F 62 00 0A 0E 02 00 00 00 3C 03 00 01 74 0B 05 0B 81 01 68 69");
    let mut stream = publish.clone();
    stream.extend(hex("C0 00 40 02 00 01"));
    stream.extend(&publish);

    // Byte by byte: `None` until each packet is complete.
    let mut decoder = Decoder::default();
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    for b in &stream {
        buf.extend_from_slice(&[*b]);
        while let Some(p) = decoder.decode(&mut buf).unwrap() {
            got.push(p.packet_type());
        }
    }
    assert_eq!(
        got,
        [
            PacketType::Publish,
            PacketType::PingReq,
            PacketType::PubAck,
            PacketType::Publish
        ]
    );

    // All at once: one packet per call, then `None`.
    let mut buf = BytesMut::from(&stream[..]);
    let mut n = 0;
    while decoder.decode(&mut buf).unwrap().is_some() {
        n += 1;
    }
    assert_eq!(n, 4);
    assert!(buf.is_empty());
}

#[test]
fn decoder_learns_the_version_from_connect() {
    let mut decoder = Decoder::default();
    let mut buf = BytesMut::from(&hex("10 0C 00 04 4D 51 54 54 04 02 00 00 00 00 E0 00 F0 00")[..]);
    assert!(matches!(
        decoder.decode(&mut buf),
        Ok(Some(Packet::Connect(_)))
    ));
    assert_eq!(decoder.version(), V311);
    assert!(matches!(
        decoder.decode(&mut buf),
        Ok(Some(Packet::Disconnect(_)))
    ));
    assert_eq!(
        decoder.decode(&mut buf),
        Err(DecodeError::InvalidPacketType(15))
    );
}

#[test]
fn payload_shares_the_receive_buffer() {
    let bytes = hex("30 08 00 01 74 00 70 6C 6F 70");
    let mut buf = BytesMut::from(&bytes[..]);
    let base = buf.as_ptr() as usize;
    let Some(Packet::Publish(p)) = Decoder::default().decode(&mut buf).unwrap() else {
        panic!()
    };
    let at = p.payload.as_ptr() as usize;
    assert_eq!(
        at,
        base + 6,
        "payload points into the receive buffer, not a copy"
    );
    let fanned_out: Vec<Bytes> = (0..3).map(|_| p.payload.clone()).collect();
    assert!(fanned_out.iter().all(|b| b.as_ptr() as usize == at));
    assert_eq!(TopicName::try_from("t").unwrap(), p.topic);
}

#[test]
fn encode_errors_append_nothing() {
    let mut p = pubzub_core::Publish::new(TopicName::try_from("t").unwrap(), &b"x"[..]);
    p.properties
        .user_properties
        .push((s("k"), ByteStr::from("v".repeat(70_000))));
    let mut buf = BytesMut::from(&b"earlier"[..]);
    let err = pubzub_core::encode(&Packet::Publish(p.clone()), V5, &mut buf).unwrap_err();
    assert_eq!(err, pubzub_core::EncodeError::FieldTooLong(70_000));
    assert_eq!(&buf[..], b"earlier");
    assert_eq!(
        p.encoded_len(V5),
        Err(err),
        "the size fails as the encode does"
    );
    p.properties.user_properties.clear();
    p.qos = QoS::AtLeastOnce; // without a packet id
    let err = pubzub_core::encode(&Packet::Publish(p.clone()), V5, &mut buf).unwrap_err();
    assert_eq!(err, pubzub_core::EncodeError::PacketIdMismatch);
    assert_eq!(&buf[..], b"earlier");
    assert_eq!(pubzub_core::encoded_len(&Packet::Publish(p), V5), Err(err));
}

#[test]
fn large_publish_round_trips_after_other_bytes() {
    for size in [0, 100, 126, 127, 128, 16_383, 16_384, 200_000] {
        let mut p =
            pubzub_core::Publish::new(TopicName::try_from("big/one").unwrap(), vec![9u8; size]);
        p.properties.content_type = Some(s("application/octet-stream"));
        let packet = Packet::Publish(p);
        let mut buf = BytesMut::from(&hex("C0 00")[..]); // a PINGREQ already queued
        pubzub_core::encode(&packet, V5, &mut buf).unwrap();
        assert_eq!(
            pubzub_core::encoded_len(&packet, V5).unwrap(),
            buf.len() - 2
        );
        let mut decoder = Decoder::default();
        assert_eq!(decoder.decode(&mut buf).unwrap(), Some(Packet::PingReq));
        assert_eq!(decoder.decode(&mut buf).unwrap(), Some(packet), "{size}");
        assert!(buf.is_empty());
    }
}
