//! PUBACK, PUBREC, PUBREL and PUBCOMP [MQTT-3.4] - [MQTT-3.7]: the QoS 1 and QoS 2
//! handshakes. The four share one layout, so they share one struct; [`Packet`](super::Packet)
//! says which one it is.

use super::{AckProperties, PacketId, PacketType, ProtocolVersion, read_reason, write_reason_tail};
use crate::{
    DecodeError, ReasonCode,
    wire::{Reader, Sink},
};

/// The body of PUBACK, PUBREC, PUBREL or PUBCOMP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    pub packet_id: PacketId,
    pub reason_code: ReasonCode,
    pub properties: AckProperties,
}

impl Ack {
    /// A successful acknowledgement without properties.
    pub fn new(packet_id: PacketId) -> Ack {
        Ack {
            packet_id,
            reason_code: ReasonCode::Success,
            properties: AckProperties::default(),
        }
    }

    pub(crate) fn read(
        packet: PacketType,
        r: &mut Reader,
        version: ProtocolVersion,
    ) -> Result<Ack, DecodeError> {
        let packet_id = PacketId::read(r)?;
        let mut ack = Ack::new(packet_id);
        // The reason code and the properties may each be left out [MQTT-3.4.2.1].
        if version.is_v5() && !r.is_empty() {
            ack.reason_code = read_reason(packet, r)?;
            if !r.is_empty() {
                ack.properties = AckProperties::read(r, packet)?;
            }
        }
        Ok(ack)
    }

    pub(crate) fn write<S: Sink>(&self, s: &mut S, version: ProtocolVersion) {
        s.put_u16(self.packet_id.get());
        if version.is_v5() {
            let has_properties = !self.properties.is_empty();
            write_reason_tail(s, self.reason_code, has_properties, |s| {
                self.properties.write(s)
            });
        }
    }
}
