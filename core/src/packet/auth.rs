//! AUTH [MQTT-3.15]: extended authentication exchanges (MQTT 5 only).

use super::{AuthProperties, PacketType, read_reason};
use crate::{
    DecodeError, ReasonCode,
    wire::{Reader, Sink},
};

/// One step of an extended authentication exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    pub reason_code: ReasonCode,
    pub properties: AuthProperties,
}

impl Auth {
    pub(crate) fn read(r: &mut Reader) -> Result<Auth, DecodeError> {
        let mut auth = Auth {
            reason_code: ReasonCode::Success,
            properties: AuthProperties::default(),
        };
        // An empty body means Success without properties [MQTT-3.15.2.1]. A missing Property
        // Length after the reason code is accepted too, as peers send it that way.
        if !r.is_empty() {
            auth.reason_code = read_reason(PacketType::Auth, r)?;
            if !r.is_empty() {
                auth.properties = AuthProperties::read(r, PacketType::Auth)?;
            }
        }
        Ok(auth)
    }

    pub(crate) fn write<S: Sink>(&self, s: &mut S) {
        // Only a Success without properties may leave both out; otherwise the Property Length
        // follows the reason code even when it is 0 [MQTT-3.15.2.2.1].
        if self.reason_code != ReasonCode::Success || !self.properties.is_empty() {
            s.put_u8(self.reason_code as u8);
            self.properties.write(s);
        }
    }
}
