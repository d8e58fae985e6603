//! DISCONNECT [MQTT-3.14]: the last packet of a connection, from either side.

use super::{DisconnectProperties, PacketType, ProtocolVersion, read_reason, write_reason_tail};
use crate::{
    DecodeError, ReasonCode,
    wire::{Reader, Sink},
};

/// Why the connection ends. 0x00 (normal) suppresses the will; 0x04 asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disconnect {
    pub reason_code: ReasonCode,
    pub properties: DisconnectProperties,
}

impl Disconnect {
    pub fn new(reason_code: ReasonCode) -> Disconnect {
        Disconnect {
            reason_code,
            properties: DisconnectProperties::default(),
        }
    }

    pub(crate) fn read(
        r: &mut Reader,
        version: ProtocolVersion,
    ) -> Result<Disconnect, DecodeError> {
        let mut d = Disconnect::new(ReasonCode::Success);
        // Both the reason code and the properties are optional [MQTT-3.14.2.1].
        if version.is_v5() && !r.is_empty() {
            d.reason_code = read_reason(PacketType::Disconnect, r)?;
            if !r.is_empty() {
                d.properties = DisconnectProperties::read(r, PacketType::Disconnect)?;
            }
        }
        Ok(d)
    }

    pub(crate) fn write<S: Sink>(&self, s: &mut S, version: ProtocolVersion) {
        if version.is_v5() {
            let has_properties = !self.properties.is_empty();
            write_reason_tail(s, self.reason_code, has_properties, |s| {
                self.properties.write(s)
            });
        }
    }
}
