//! Cross-check against an independent implementation, mqtt-proto (dev-dependency only).
//!
//! For arbitrary valid packets: mqtt-proto decodes our bytes, re-encodes them, and we decode
//! its bytes back to exactly the packet we started from. A field mqtt-proto misread would come
//! back changed. For PUBLISH, the packet that matters most, its decoded fields are also
//! compared with ours one by one.

mod common;

use common::{arb, decode_one, encode_to_vec};
use mqtt_proto::{QosPid, v3, v5};
use proptest::prelude::*;
use pubzub_core::{Packet, ProtocolVersion::*, QoS};

/// Packets within mqtt-proto's model: it keeps one subscription identifier per PUBLISH and
/// does not take a zero-length topic with a topic alias.
fn v5_packet() -> impl Strategy<Value = Packet> {
    arb::packet(V5).prop_filter("within mqtt-proto's model", |p| match p {
        Packet::Publish(m) => {
            m.properties.subscription_identifiers.len() <= 1 && !m.topic.is_empty()
        }
        _ => true,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn v5_both_ways(packet in v5_packet()) {
        let ours = encode_to_vec(&packet, V5);
        let theirs = v5::Packet::decode(&ours).map_err(|e| TestCaseError::fail(format!("mqtt-proto: {e:?} on {packet:?}")))?;
        let theirs = theirs.ok_or_else(|| TestCaseError::fail("mqtt-proto wants more bytes"))?;
        let back = theirs.encode().map_err(|e| TestCaseError::fail(format!("mqtt-proto encode: {e:?}")))?;
        let again = decode_one(back.as_ref(), V5).map_err(|e| TestCaseError::fail(format!("we refuse theirs: {e}")))?;
        prop_assert_eq!(again, packet);
    }

    #[test]
    fn v311_both_ways(packet in arb::packet(V311)) {
        let ours = encode_to_vec(&packet, V311);
        let theirs = v3::Packet::decode(&ours).map_err(|e| TestCaseError::fail(format!("mqtt-proto: {e:?} on {packet:?}")))?;
        let theirs = theirs.ok_or_else(|| TestCaseError::fail("mqtt-proto wants more bytes"))?;
        if let (Packet::SubAck(our_ack), v3::Packet::Suback(their_ack)) = (&packet, &theirs) {
            // mqtt-proto 0.4.0 reads 0x80 as Failure but writes Failure as 0x03 (`code as u8`
            // on a fieldless enum), which is not a 3.1.1 return code. Check its reading only.
            let failures = |codes: Vec<bool>| codes;
            prop_assert_eq!(
                failures(their_ack.topics.iter().map(|c| *c == v3::SubscribeReturnCode::Failure).collect()),
                failures(our_ack.reason_codes.iter().map(|c| c.is_error()).collect())
            );
            return Ok(());
        }
        let back = theirs.encode().map_err(|e| TestCaseError::fail(format!("mqtt-proto encode: {e:?}")))?;
        let again = decode_one(back.as_ref(), V311).map_err(|e| TestCaseError::fail(format!("we refuse theirs: {e}")))?;
        prop_assert_eq!(again, packet);
    }

    #[test]
    fn publish_fields_agree(packet in arb::publish(V5, 1, false)) {
        let Packet::Publish(ours) = &packet else { unreachable!() };
        let bytes = encode_to_vec(&packet, V5);
        let Ok(Some(v5::Packet::Publish(theirs))) = v5::Packet::decode(&bytes) else {
            return Err(TestCaseError::fail("mqtt-proto did not decode a PUBLISH"));
        };
        prop_assert_eq!(&*theirs.topic_name, ours.topic.as_str());
        prop_assert_eq!(&theirs.payload[..], &ours.payload[..]);
        prop_assert_eq!(theirs.dup, ours.dup);
        prop_assert_eq!(theirs.retain, ours.retain);
        let (qos, id) = match theirs.qos_pid {
            QosPid::Level0 => (QoS::AtMostOnce, None),
            QosPid::Level1(p) => (QoS::AtLeastOnce, Some(p.value())),
            QosPid::Level2(p) => (QoS::ExactlyOnce, Some(p.value())),
        };
        prop_assert_eq!(qos, ours.qos);
        prop_assert_eq!(id, ours.packet_id.map(|p| p.get()));
        let (tp, op) = (&theirs.properties, &ours.properties);
        prop_assert_eq!(tp.payload_is_utf8, op.payload_format_indicator);
        prop_assert_eq!(tp.message_expiry_interval, op.message_expiry_interval);
        prop_assert_eq!(tp.topic_alias, op.topic_alias.map(|a| a.get()));
        prop_assert_eq!(tp.response_topic.as_deref(), op.response_topic.as_deref());
        prop_assert_eq!(tp.correlation_data.as_deref(), op.correlation_data.as_deref());
        prop_assert_eq!(tp.content_type.as_deref(), op.content_type.as_deref());
        prop_assert_eq!(tp.subscription_id.map(|i| i.value()), op.subscription_identifiers.first().map(|i| i.get()));
        let their_props: Vec<(String, String)> = tp.user_properties.iter().map(|u| (u.name.to_string(), u.value.to_string())).collect();
        let our_props: Vec<(String, String)> = op.user_properties.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        prop_assert_eq!(their_props, our_props);
    }
}
