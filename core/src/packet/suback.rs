//! SUBACK [MQTT-3.9] and UNSUBACK [MQTT-3.11]: one reason code per requested filter.

// Without the `server` feature one direction of this packet is left out, with its imports.
#![cfg_attr(not(feature = "server"), allow(unused_imports))]

use super::{AckProperties, PacketId, PacketType, ProtocolVersion};
use crate::{
    DecodeError, ReasonCode,
    wire::{Reader, Sink},
};

/// The answer to SUBSCRIBE: per filter, the granted QoS or a failure code. Under 3.1.1 the
/// failure is 0x80 whatever the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubAck {
    pub packet_id: PacketId,
    pub properties: AckProperties,
    pub reason_codes: Vec<ReasonCode>,
}

/// The answer to UNSUBSCRIBE. MQTT 3.1.1 has no reason codes: `reason_codes` is then empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsubAck {
    pub packet_id: PacketId,
    pub properties: AckProperties,
    pub reason_codes: Vec<ReasonCode>,
}

fn read_codes(packet: PacketType, r: &mut Reader) -> Result<Vec<ReasonCode>, DecodeError> {
    let mut codes = Vec::with_capacity(r.remaining());
    while !r.is_empty() {
        let code = r.u8()?;
        codes.push(
            ReasonCode::from_u8(code)
                .filter(|c| c.valid_in(packet))
                .ok_or(DecodeError::InvalidReasonCode { packet, code })?,
        );
    }
    Ok(codes)
}

fn read_head(
    packet: PacketType,
    r: &mut Reader,
    version: ProtocolVersion,
) -> Result<(PacketId, AckProperties), DecodeError> {
    let packet_id = PacketId::read(r)?;
    let properties = if version.is_v5() {
        AckProperties::read(r, packet)?
    } else {
        AckProperties::default()
    };
    Ok((packet_id, properties))
}

impl SubAck {
    pub(crate) fn read(r: &mut Reader, version: ProtocolVersion) -> Result<SubAck, DecodeError> {
        let (packet_id, properties) = read_head(PacketType::SubAck, r, version)?;
        let reason_codes = read_codes(PacketType::SubAck, r)?;
        if !version.is_v5() {
            // 3.1.1 knows only 0x00, 0x01, 0x02 and 0x80 [MQTT-3.9.3].
            if let Some(&code) = reason_codes
                .iter()
                .find(|c| c.is_error() && **c != ReasonCode::UnspecifiedError)
            {
                return Err(DecodeError::InvalidReasonCode {
                    packet: PacketType::SubAck,
                    code: code as u8,
                });
            }
        }
        Ok(SubAck {
            packet_id,
            properties,
            reason_codes,
        })
    }

    #[cfg(feature = "server")]
    pub(crate) fn write<S: Sink>(&self, s: &mut S, version: ProtocolVersion) {
        s.put_u16(self.packet_id.get());
        if version.is_v5() {
            self.properties.write(s);
        }
        for &code in &self.reason_codes {
            let byte = if !version.is_v5() && code.is_error() {
                0x80
            } else {
                code as u8
            };
            s.put_u8(byte);
        }
    }
}

impl UnsubAck {
    pub(crate) fn read(r: &mut Reader, version: ProtocolVersion) -> Result<UnsubAck, DecodeError> {
        let (packet_id, properties) = read_head(PacketType::UnsubAck, r, version)?;
        let reason_codes = if version.is_v5() {
            read_codes(PacketType::UnsubAck, r)?
        } else {
            Vec::new()
        };
        Ok(UnsubAck {
            packet_id,
            properties,
            reason_codes,
        })
    }

    #[cfg(feature = "server")]
    pub(crate) fn write<S: Sink>(&self, s: &mut S, version: ProtocolVersion) {
        s.put_u16(self.packet_id.get());
        if version.is_v5() {
            self.properties.write(s);
            for &code in &self.reason_codes {
                s.put_u8(code as u8);
            }
        }
    }
}
