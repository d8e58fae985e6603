//! proptest strategies for arbitrary valid packets of either protocol version.

use std::num::{NonZeroU16, NonZeroU32};

use bytes::Bytes;
use proptest::{collection::vec, option::of, prelude::*, sample::select};
use pubzub_core::{reason::ALL, *};

pub fn string() -> impl Strategy<Value = ByteStr> {
    "[a-zA-Z0-9 ü/_.-]{0,12}".prop_map(ByteStr::from)
}

pub fn bytes() -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..24).prop_map(Bytes::from)
}

pub fn topic() -> impl Strategy<Value = TopicName> {
    "[a-z0-9$]{0,4}(/[a-z0-9]{0,4}){0,4}"
        .prop_filter_map("valid topic", |s| TopicName::try_from(s).ok())
}

pub fn filter() -> impl Strategy<Value = TopicFilter> {
    let level = prop_oneof![3 => "[a-z]{0,3}", 1 => Just("+".to_string())];
    (vec(level, 1..5), any::<bool>(), of("[a-z]{1,3}"))
        .prop_map(|(levels, hash, share)| {
            let mut f = levels.join("/");
            if hash {
                f.push_str("/#");
            }
            match share {
                Some(group) => format!("$share/{group}/{f}"),
                None => f,
            }
        })
        .prop_filter_map("valid filter", |s| TopicFilter::try_from(s).ok())
}

pub fn user_properties() -> impl Strategy<Value = Vec<UserProperty>> {
    vec((string(), string()), 0..3)
}

pub fn qos() -> impl Strategy<Value = QoS> {
    select(vec![QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce])
}

pub fn packet_id() -> impl Strategy<Value = PacketId> {
    (1u16..).prop_map(|n| PacketId::new(n).expect("non-zero"))
}

pub fn subscription_id() -> impl Strategy<Value = SubscriptionId> {
    (1u32..=268_435_455).prop_map(|n| SubscriptionId::new(n).expect("in range"))
}

fn nz16() -> impl Strategy<Value = NonZeroU16> {
    (1u16..).prop_map(|n| NonZeroU16::new(n).expect("non-zero"))
}

fn nz32() -> impl Strategy<Value = NonZeroU32> {
    (1u32..).prop_map(|n| NonZeroU32::new(n).expect("non-zero"))
}

/// Reason codes valid in `packet` (MQTT 5).
pub fn reason(packet: PacketType) -> impl Strategy<Value = ReasonCode> {
    select(
        ALL.iter()
            .copied()
            .filter(|c| c.valid_in(packet))
            .collect::<Vec<_>>(),
    )
}

fn connect_properties() -> impl Strategy<Value = ConnectProperties> {
    (
        of(any::<u32>()),
        of(nz16()),
        of(nz32()),
        of(any::<u16>()),
        of(any::<bool>()),
        of(any::<bool>()),
        of(string()),
        of(bytes()),
        user_properties(),
    )
        .prop_map(
            |(sei, rm, mps, tam, rri, rpi, am, ad, up)| ConnectProperties {
                session_expiry_interval: sei,
                receive_maximum: rm,
                maximum_packet_size: mps,
                topic_alias_maximum: tam,
                request_response_information: rri,
                request_problem_information: rpi,
                authentication_method: am,
                authentication_data: ad,
                user_properties: up,
            },
        )
}

fn will_properties() -> impl Strategy<Value = WillProperties> {
    (
        of(any::<u32>()),
        of(any::<bool>()),
        of(any::<u32>()),
        of(string()),
        of(topic()),
        of(bytes()),
        user_properties(),
    )
        .prop_map(|(wdi, pfi, mei, ct, rt, cd, up)| WillProperties {
            will_delay_interval: wdi,
            payload_format_indicator: pfi,
            message_expiry_interval: mei,
            content_type: ct,
            response_topic: rt,
            correlation_data: cd,
            user_properties: up,
        })
}

fn connack_properties() -> impl Strategy<Value = ConnAckProperties> {
    let a = (
        of(any::<u32>()),
        of(nz16()),
        of(select(vec![QoS::AtMostOnce, QoS::AtLeastOnce])),
        of(any::<bool>()),
        of(nz32()),
        of(string()),
        of(any::<u16>()),
        of(string()),
    );
    let b = (
        of(any::<bool>()),
        of(any::<bool>()),
        of(any::<bool>()),
        of(any::<u16>()),
        of(string()),
        of(string()),
        of(string()),
        of(bytes()),
        user_properties(),
    );
    (a, b).prop_map(
        |((sei, rm, mq, ra, mps, aci, tam, rs), (wsa, sia, ssa, ska, ri, sr, am, ad, up))| {
            ConnAckProperties {
                session_expiry_interval: sei,
                receive_maximum: rm,
                maximum_qos: mq,
                retain_available: ra,
                maximum_packet_size: mps,
                assigned_client_identifier: aci,
                topic_alias_maximum: tam,
                reason_string: rs,
                wildcard_subscription_available: wsa,
                subscription_identifiers_available: sia,
                shared_subscription_available: ssa,
                server_keep_alive: ska,
                response_information: ri,
                server_reference: sr,
                authentication_method: am,
                authentication_data: ad,
                user_properties: up,
            }
        },
    )
}

pub fn publish_properties(max_sub_ids: usize) -> impl Strategy<Value = PublishProperties> {
    (
        of(any::<bool>()),
        of(any::<u32>()),
        of(nz16()),
        of(topic()),
        of(bytes()),
        of(string()),
        vec(subscription_id(), 0..=max_sub_ids),
        user_properties(),
    )
        .prop_map(|(pfi, mei, ta, rt, cd, ct, ids, up)| PublishProperties {
            payload_format_indicator: pfi,
            message_expiry_interval: mei,
            topic_alias: ta,
            response_topic: rt,
            correlation_data: cd,
            content_type: ct,
            subscription_identifiers: ids,
            user_properties: up,
        })
}

fn ack_properties() -> impl Strategy<Value = AckProperties> {
    (of(string()), user_properties()).prop_map(|(rs, up)| AckProperties {
        reason_string: rs,
        user_properties: up,
    })
}

fn v5<T: std::fmt::Debug + Default + Clone + 'static>(
    version: ProtocolVersion,
    s: impl Strategy<Value = T> + 'static,
) -> BoxedStrategy<T> {
    if version == ProtocolVersion::V5 {
        s.boxed()
    } else {
        Just(T::default()).boxed()
    }
}

/// A payload flagged as UTF-8 must be UTF-8 [MQTT-3.3.2.3.2]: keep only ASCII then.
fn utf8_if_flagged(payload_format_indicator: Option<bool>, payload: Bytes) -> Bytes {
    if payload_format_indicator == Some(true) {
        payload.iter().map(|b| b & 0x7F).collect::<Vec<u8>>().into()
    } else {
        payload
    }
}

pub fn connect(version: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let will = (
        topic(),
        bytes(),
        qos(),
        any::<bool>(),
        v5(version, will_properties()),
    )
        .prop_map(|(topic, payload, qos, retain, properties)| {
            let payload = utf8_if_flagged(properties.payload_format_indicator, payload);
            Will {
                topic,
                payload,
                qos,
                retain,
                properties,
            }
        });
    (
        any::<bool>(),
        any::<u16>(),
        string(),
        of(will),
        of(string()),
        of(bytes()),
        v5(version, connect_properties()),
    )
        .prop_map(
            move |(clean_start, keep_alive, client_id, will, username, password, properties)| {
                // MQTT 3.1.1 forbids a password without a user name [MQTT-3.1.2-22].
                let password = if version == ProtocolVersion::V311 && username.is_none() {
                    None
                } else {
                    password
                };
                Packet::Connect(Box::new(Connect {
                    protocol: version,
                    clean_start,
                    keep_alive,
                    client_id,
                    will,
                    username,
                    password,
                    properties,
                }))
            },
        )
}

pub fn connack(version: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let code = if version == ProtocolVersion::V5 {
        reason(PacketType::ConnAck).boxed()
    } else {
        select(vec![
            ReasonCode::Success,
            ReasonCode::UnsupportedProtocolVersion,
            ReasonCode::ClientIdentifierNotValid,
            ReasonCode::ServerUnavailable,
            ReasonCode::BadUserNameOrPassword,
            ReasonCode::NotAuthorized,
        ])
        .boxed()
    };
    (any::<bool>(), code, v5(version, connack_properties())).prop_map(
        |(session_present, reason_code, properties)| {
            Packet::ConnAck(ConnAck {
                session_present,
                reason_code,
                properties,
            })
        },
    )
}

pub fn publish(
    version: ProtocolVersion,
    max_sub_ids: usize,
    alias_only: bool,
) -> impl Strategy<Value = Packet> {
    (
        any::<bool>(),
        qos(),
        any::<bool>(),
        topic(),
        packet_id(),
        v5(version, publish_properties(max_sub_ids)),
        bytes(),
        any::<bool>(),
    )
        .prop_map(
            move |(dup, qos, retain, topic, id, properties, payload, use_alias)| {
                let packet_id = (qos != QoS::AtMostOnce).then_some(id);
                let dup = dup && packet_id.is_some();
                let topic = if alias_only && use_alias && properties.topic_alias.is_some() {
                    TopicName::alias_only()
                } else {
                    topic
                };
                let payload = utf8_if_flagged(properties.payload_format_indicator, payload);
                Packet::Publish(Publish {
                    dup,
                    qos,
                    retain,
                    topic,
                    packet_id,
                    properties,
                    payload,
                })
            },
        )
}

pub fn ack(version: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let kinds = select(vec![
        PacketType::PubAck,
        PacketType::PubRec,
        PacketType::PubRel,
        PacketType::PubComp,
    ]);
    (kinds, packet_id()).prop_flat_map(move |(kind, packet_id)| {
        let code = if version == ProtocolVersion::V5 {
            reason(kind).boxed()
        } else {
            Just(ReasonCode::Success).boxed()
        };
        (code, v5(version, ack_properties())).prop_map(move |(reason_code, properties)| {
            let ack = Ack {
                packet_id,
                reason_code,
                properties,
            };
            match kind {
                PacketType::PubAck => Packet::PubAck(ack),
                PacketType::PubRec => Packet::PubRec(ack),
                PacketType::PubRel => Packet::PubRel(ack),
                _ => Packet::PubComp(ack),
            }
        })
    })
}

pub fn subscribe(version: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let is_v5 = version == ProtocolVersion::V5;
    let options = (
        qos(),
        any::<bool>(),
        any::<bool>(),
        select(vec![
            RetainHandling::SendAtSubscribe,
            RetainHandling::SendIfNew,
            RetainHandling::DoNotSend,
        ]),
    )
        .prop_map(move |(qos, no_local, rap, rh)| {
            if is_v5 {
                SubscriptionOptions {
                    qos,
                    no_local,
                    retain_as_published: rap,
                    retain_handling: rh,
                }
            } else {
                SubscriptionOptions {
                    qos,
                    ..Default::default()
                }
            }
        });
    let one = (filter(), options).prop_map(|(filter, mut options)| {
        // No Local is not allowed on shared subscriptions [MQTT-3.8.3-4].
        options.no_local &= filter.shared().is_none();
        SubscribeFilter { filter, options }
    });
    let props =
        (of(subscription_id()), user_properties()).prop_map(|(id, up)| SubscribeProperties {
            subscription_identifier: id,
            user_properties: up,
        });
    (packet_id(), v5(version, props), vec(one, 1..4)).prop_map(
        |(packet_id, properties, filters)| {
            Packet::Subscribe(Subscribe {
                packet_id,
                properties,
                filters,
            })
        },
    )
}

pub fn suback(version: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let code = if version == ProtocolVersion::V5 {
        reason(PacketType::SubAck).boxed()
    } else {
        select(vec![
            ReasonCode::Success,
            ReasonCode::GrantedQoS1,
            ReasonCode::GrantedQoS2,
            ReasonCode::UnspecifiedError,
        ])
        .boxed()
    };
    (packet_id(), v5(version, ack_properties()), vec(code, 0..4)).prop_map(
        |(packet_id, properties, reason_codes)| {
            Packet::SubAck(SubAck {
                packet_id,
                properties,
                reason_codes,
            })
        },
    )
}

pub fn unsubscribe(version: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let props = user_properties().prop_map(|up| UnsubscribeProperties {
        user_properties: up,
    });
    (packet_id(), v5(version, props), vec(filter(), 1..4)).prop_map(
        |(packet_id, properties, filters)| {
            Packet::Unsubscribe(Unsubscribe {
                packet_id,
                properties,
                filters,
            })
        },
    )
}

pub fn unsuback(version: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let codes = if version == ProtocolVersion::V5 {
        vec(reason(PacketType::UnsubAck), 0..4).boxed()
    } else {
        Just(vec![]).boxed()
    };
    (packet_id(), v5(version, ack_properties()), codes).prop_map(
        |(packet_id, properties, reason_codes)| {
            Packet::UnsubAck(UnsubAck {
                packet_id,
                properties,
                reason_codes,
            })
        },
    )
}

pub fn disconnect(version: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let code = if version == ProtocolVersion::V5 {
        reason(PacketType::Disconnect).boxed()
    } else {
        Just(ReasonCode::Success).boxed()
    };
    let props = (
        of(any::<u32>()),
        of(string()),
        of(string()),
        user_properties(),
    )
        .prop_map(|(sei, rs, sr, up)| DisconnectProperties {
            session_expiry_interval: sei,
            reason_string: rs,
            server_reference: sr,
            user_properties: up,
        });
    (code, v5(version, props)).prop_map(|(reason_code, properties)| {
        Packet::Disconnect(Disconnect {
            reason_code,
            properties,
        })
    })
}

pub fn auth() -> impl Strategy<Value = Packet> {
    let props = (of(string()), of(bytes()), of(string()), user_properties()).prop_map(
        |(am, ad, rs, up)| AuthProperties {
            authentication_method: am,
            authentication_data: ad,
            reason_string: rs,
            user_properties: up,
        },
    );
    (reason(PacketType::Auth), props).prop_map(|(reason_code, properties)| {
        Packet::Auth(Auth {
            reason_code,
            properties,
        })
    })
}

/// Any valid packet of `version`.
pub fn packet(version: ProtocolVersion) -> BoxedStrategy<Packet> {
    let common = prop_oneof![
        connect(version),
        connack(version),
        publish(version, 3, true),
        ack(version),
        subscribe(version),
        suback(version),
        unsubscribe(version),
        unsuback(version),
        Just(Packet::PingReq),
        Just(Packet::PingResp),
        disconnect(version),
    ];
    if version == ProtocolVersion::V5 {
        prop_oneof![10 => common, 1 => auth()].boxed()
    } else {
        common.boxed()
    }
}
