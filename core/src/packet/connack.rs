//! CONNACK [MQTT-3.2]: the server's answer to CONNECT.

// Without the `server` feature one direction of this packet is left out, with its imports.
#![cfg_attr(not(feature = "server"), allow(unused_imports))]

use super::{ConnAckProperties, PacketType, ProtocolVersion};
use crate::{
    DecodeError, ReasonCode,
    wire::{Reader, Sink},
};

/// A connection acknowledgement. Under 3.1.1 the return code is mapped to the reason code of
/// the same meaning (1 -> 0x84, 2 -> 0x85, 3 -> 0x88, 4 -> 0x86, 5 -> 0x87).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnAck {
    pub session_present: bool,
    pub reason_code: ReasonCode,
    pub properties: ConnAckProperties,
}

impl Default for ConnAck {
    fn default() -> Self {
        ConnAck {
            session_present: false,
            reason_code: ReasonCode::Success,
            properties: Default::default(),
        }
    }
}

/// MQTT 3.1.1 CONNACK return codes 0..=5, as reason codes [MQTT-3.2.2.3].
const V311_RETURN_CODES: [ReasonCode; 6] = [
    ReasonCode::Success,
    ReasonCode::UnsupportedProtocolVersion,
    ReasonCode::ClientIdentifierNotValid,
    ReasonCode::ServerUnavailable,
    ReasonCode::BadUserNameOrPassword,
    ReasonCode::NotAuthorized,
];

#[cfg(feature = "server")]
/// The 3.1.1 return code for a reason code; failures without an equivalent become
/// "server unavailable".
fn v311_return_code(code: ReasonCode) -> u8 {
    match V311_RETURN_CODES.iter().position(|c| *c == code) {
        Some(i) => i as u8,
        None if code == ReasonCode::Banned => 5,
        None => 3,
    }
}

impl ConnAck {
    pub(crate) fn read(r: &mut Reader, version: ProtocolVersion) -> Result<ConnAck, DecodeError> {
        let ack_flags = r.u8()?;
        if ack_flags & 0xFE != 0 {
            // Bits 7-1 are reserved [MQTT-3.2.2-1].
            return Err(DecodeError::InvalidFlags {
                packet: PacketType::ConnAck,
                flags: ack_flags,
            });
        }
        let code = r.u8()?;
        let invalid = DecodeError::InvalidReasonCode {
            packet: PacketType::ConnAck,
            code,
        };
        let (reason_code, properties) = if version.is_v5() {
            let reason = ReasonCode::from_u8(code)
                .filter(|c| c.valid_in(PacketType::ConnAck))
                .ok_or(invalid)?;
            (reason, ConnAckProperties::read(r, PacketType::ConnAck)?)
        } else {
            let reason = V311_RETURN_CODES
                .get(usize::from(code))
                .copied()
                .ok_or(invalid)?;
            (reason, ConnAckProperties::default())
        };
        Ok(ConnAck {
            session_present: ack_flags & 1 != 0,
            reason_code,
            properties,
        })
    }

    #[cfg(feature = "server")]
    pub(crate) fn write<S: Sink>(&self, s: &mut S, version: ProtocolVersion) {
        s.put_u8(u8::from(self.session_present));
        if version.is_v5() {
            s.put_u8(self.reason_code as u8);
            self.properties.write(s);
        } else {
            s.put_u8(v311_return_code(self.reason_code));
        }
    }
}
