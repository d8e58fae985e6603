//! PUBLISH [MQTT-3.3]: an application message.

use bytes::Bytes;

use super::{PacketId, PacketType, ProtocolVersion, PublishProperties, QoS};
use crate::{
    DecodeError, EncodeError, TopicName,
    wire::{Reader, Sink},
};

/// An application message. The payload shares the buffer it was decoded from, so fanning it
/// out to many subscribers copies no payload bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// A re-delivery of an earlier attempt (QoS > 0 only).
    pub dup: bool,
    pub qos: QoS,
    pub retain: bool,
    /// Empty ([`TopicName::alias_only`]) when a received packet names its topic by alias.
    pub topic: TopicName,
    /// Present exactly when `qos` > 0 [MQTT-2.2.1-2].
    pub packet_id: Option<PacketId>,
    pub properties: PublishProperties,
    pub payload: Bytes,
}

impl Publish {
    /// A QoS 0 message without properties.
    pub fn new(topic: TopicName, payload: impl Into<Bytes>) -> Publish {
        Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: false,
            topic,
            packet_id: None,
            properties: PublishProperties::default(),
            payload: payload.into(),
        }
    }

    pub(crate) fn read(
        flags: u8,
        r: &mut Reader,
        version: ProtocolVersion,
    ) -> Result<Publish, DecodeError> {
        let dup = flags & 0b1000 != 0;
        let qos = QoS::from_bits((flags >> 1) & 0b11)?;
        if dup && qos == QoS::AtMostOnce {
            // [MQTT-3.3.1-2]
            return Err(DecodeError::InvalidFlags {
                packet: PacketType::Publish,
                flags,
            });
        }
        let name = r.string()?;
        let packet_id = if qos == QoS::AtMostOnce {
            None
        } else {
            Some(PacketId::read(r)?)
        };
        let mut properties = PublishProperties::default();
        if version.is_v5() {
            properties.read_into(r, PacketType::Publish)?;
        }
        let topic = if name.is_empty() && properties.topic_alias.is_some() {
            TopicName::alias_only()
        } else {
            TopicName::try_from(name).map_err(DecodeError::InvalidTopicName)?
        };
        Ok(Publish {
            dup,
            qos,
            retain: flags & 1 != 0,
            topic,
            packet_id,
            properties,
            payload: r.rest(),
        })
    }

    /// The fixed-header flags: DUP, QoS and RETAIN [MQTT-3.3.1].
    pub(crate) fn flags(&self) -> u8 {
        (u8::from(self.dup) << 3) | ((self.qos as u8) << 1) | u8::from(self.retain)
    }

    /// The first byte of the fixed header: the packet type and [`Publish::flags`].
    pub(crate) fn first_byte(&self) -> u8 {
        ((PacketType::Publish as u8) << 4) | self.flags()
    }

    /// Writes the variable header; [`crate::encode`] appends the payload.
    #[cfg_attr(feature = "server", inline(always))]
    pub(crate) fn write<S: Sink>(&self, s: &mut S, version: ProtocolVersion) {
        if (self.qos == QoS::AtMostOnce) != self.packet_id.is_none() {
            return s.fail(EncodeError::PacketIdMismatch);
        }
        if self.topic.is_empty() && (self.properties.topic_alias.is_none() || !version.is_v5()) {
            return s.fail(EncodeError::EmptyTopic);
        }
        s.put_str(self.topic.as_str());
        if let Some(id) = self.packet_id {
            s.put_u16(id.get());
        }
        if version.is_v5() {
            self.properties.write(s);
        }
        // The payload follows: the encoder appends it once the remaining length is known.
    }
}
