//! The PUBLISH every codec benchmark measures, built by each implementation: QoS 1, topic
//! `sensors/building-7/floor-3/temperature`, content type, message expiry and one user
//! property, 100-byte payload. Shared by benches/codec.rs and examples/codec_workload.rs.

use bytes::{Bytes, BytesMut};
use mqtt_protocol_core::mqtt::{self, packet::Property};
use pubzub_core::{ByteStr, Packet, PacketId, ProtocolVersion, Publish, QoS, TopicName, encode};

pub fn sample() -> Publish {
    let mut p = Publish::new(
        TopicName::from_static("sensors/building-7/floor-3/temperature").unwrap(),
        Bytes::from(vec![0x5A; 100]),
    );
    p.qos = QoS::AtLeastOnce;
    p.packet_id = PacketId::new(4242);
    p.properties.content_type = Some(ByteStr::from_static("application/json"));
    p.properties.message_expiry_interval = Some(3600);
    p.properties.user_properties.push((
        ByteStr::from_static("origin"),
        ByteStr::from_static("gateway-12"),
    ));
    p
}

pub fn bytes_of(p: &Publish) -> Vec<u8> {
    let mut buf = BytesMut::new();
    encode(&Packet::Publish(p.clone()), ProtocolVersion::V5, &mut buf).expect("encodable");
    buf.to_vec()
}

pub fn their_publish(p: &Publish) -> mqtt::packet::v5_0::Publish {
    let props = vec![
        Property::ContentType(mqtt::packet::ContentType::new("application/json").expect("valid")),
        Property::MessageExpiryInterval(
            mqtt::packet::MessageExpiryInterval::new(3600).expect("valid"),
        ),
        Property::UserProperty(
            mqtt::packet::UserProperty::new("origin", "gateway-12").expect("valid"),
        ),
    ];
    mqtt::packet::v5_0::Publish::builder()
        .topic_name(p.topic.as_str())
        .expect("valid topic")
        .qos(mqtt::packet::Qos::AtLeastOnce)
        .packet_id(4242u16)
        .props(props)
        .payload(p.payload.to_vec())
        .build()
        .expect("valid publish")
}

/// The fixed-header flags and the fixed header's length of an encoded packet:
/// mqtt-protocol-core parses the body after it. The remaining length ends at the first byte
/// without the continuation bit.
pub fn fixed_header(wire: &[u8]) -> (u8, usize) {
    let len_bytes = wire[1..]
        .iter()
        .position(|b| b & 0x80 == 0)
        .expect("remaining length")
        + 1;
    (wire[0] & 0x0F, 1 + len_bytes)
}
