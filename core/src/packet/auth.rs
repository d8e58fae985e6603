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
        // An empty body means Success without properties [MQTT-3.15.2.1].
        if !r.is_empty() {
            auth.reason_code = read_reason(PacketType::Auth, r)?;
            if !r.is_empty() {
                auth.properties = AuthProperties::read(r, PacketType::Auth)?;
            }
        }
        r.finish()?;
        Ok(auth)
    }

    pub(crate) fn write<S: Sink>(&self, s: &mut S) {
        let props = !self.properties.is_empty();
        if props || self.reason_code != ReasonCode::Success {
            s.put_u8(self.reason_code as u8);
        }
        if props {
            self.properties.write(s);
        }
    }
}
