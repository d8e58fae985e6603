//! CONNECT [MQTT-3.1]: the first packet a client sends.

// Without the `server` feature one direction of this packet is left out, with its imports.
#![cfg_attr(not(feature = "server"), allow(unused_imports))]

use bytes::Bytes;

use super::{ConnectProperties, PacketType, ProtocolVersion, QoS, WillProperties};
use crate::{
    ByteStr, DecodeError, TopicName,
    wire::{Reader, Sink},
};

/// A connection request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Connect {
    pub protocol: ProtocolVersion,
    /// Start a new session instead of resuming one ("clean session" in 3.1.1).
    pub clean_start: bool,
    /// Seconds; 0 turns keep alive off.
    pub keep_alive: u16,
    /// May be empty: the server then assigns one.
    pub client_id: ByteStr,
    pub will: Option<Will>,
    pub username: Option<ByteStr>,
    pub password: Option<Bytes>,
    pub properties: ConnectProperties,
}

/// The will message the server publishes when the connection ends without DISCONNECT 0x00.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Will {
    pub topic: TopicName,
    pub payload: Bytes,
    pub qos: QoS,
    pub retain: bool,
    pub properties: WillProperties,
}

const PROTOCOL_NAME: &str = "MQTT";

mod flag {
    #[cfg(feature = "server")]
    pub const RESERVED: u8 = 0x01;
    pub const CLEAN_START: u8 = 0x02;
    pub const WILL: u8 = 0x04;
    pub const WILL_QOS_SHIFT: u8 = 3;
    #[cfg(feature = "server")]
    pub const WILL_QOS: u8 = 0x18;
    pub const WILL_RETAIN: u8 = 0x20;
    pub const PASSWORD: u8 = 0x40;
    pub const USERNAME: u8 = 0x80;
}

impl Connect {
    #[cfg(feature = "server")]
    pub(crate) fn read(r: &mut Reader) -> Result<Connect, DecodeError> {
        let name = r.string()?;
        let level = r.u8()?;
        let protocol = match (name.as_str(), level) {
            (PROTOCOL_NAME, 4) => ProtocolVersion::V311,
            (PROTOCOL_NAME, 5) => ProtocolVersion::V5,
            // MQTT 3.1 ("MQIsdp", level 3) and future levels: answered with "unsupported".
            ("MQIsdp", _) | (PROTOCOL_NAME, _) => {
                return Err(DecodeError::UnsupportedProtocolVersion(level));
            }
            _ => return Err(DecodeError::InvalidProtocolName),
        };
        let flags = r.u8()?;
        let will_flag = flags & flag::WILL != 0;
        let will_qos = QoS::from_bits((flags & flag::WILL_QOS) >> flag::WILL_QOS_SHIFT)?;
        let invalid = flags & flag::RESERVED != 0 // [MQTT-3.1.2-3]
            || (!will_flag && (will_qos != QoS::AtMostOnce || flags & flag::WILL_RETAIN != 0)) // [MQTT-3.1.2-11/13]
            || (protocol == ProtocolVersion::V311 && flags & flag::PASSWORD != 0 && flags & flag::USERNAME == 0); // [MQTT-3.1.2-22]
        if invalid {
            return Err(DecodeError::InvalidConnectFlags(flags));
        }
        let keep_alive = r.u16()?;
        let properties = if protocol.is_v5() {
            ConnectProperties::read(r, PacketType::Connect)?
        } else {
            Default::default()
        };
        let client_id = r.string()?;
        let will = if will_flag {
            let properties = if protocol.is_v5() {
                WillProperties::read(r, PacketType::Connect)?
            } else {
                Default::default()
            };
            let topic = TopicName::try_from(r.string()?).map_err(DecodeError::InvalidTopicName)?;
            let payload = r.binary()?;
            Some(Will {
                topic,
                payload,
                qos: will_qos,
                retain: flags & flag::WILL_RETAIN != 0,
                properties,
            })
        } else {
            None
        };
        let username = if flags & flag::USERNAME != 0 {
            Some(r.string()?)
        } else {
            None
        };
        let password = if flags & flag::PASSWORD != 0 {
            Some(r.binary()?)
        } else {
            None
        };
        Ok(Connect {
            protocol,
            clean_start: flags & flag::CLEAN_START != 0,
            keep_alive,
            client_id,
            will,
            username,
            password,
            properties,
        })
    }

    pub(crate) fn write<S: Sink>(&self, s: &mut S) {
        s.put_str(PROTOCOL_NAME);
        s.put_u8(self.protocol.level());
        let mut flags = 0;
        if self.clean_start {
            flags |= flag::CLEAN_START;
        }
        if let Some(will) = &self.will {
            flags |= flag::WILL | ((will.qos as u8) << flag::WILL_QOS_SHIFT);
            if will.retain {
                flags |= flag::WILL_RETAIN;
            }
        }
        if self.username.is_some() {
            flags |= flag::USERNAME;
        }
        if self.password.is_some() {
            flags |= flag::PASSWORD;
        }
        s.put_u8(flags);
        s.put_u16(self.keep_alive);
        let v5 = self.protocol.is_v5();
        if v5 {
            self.properties.write(s);
        }
        s.put_str(&self.client_id);
        if let Some(will) = &self.will {
            if v5 {
                will.properties.write(s);
            }
            s.put_str(will.topic.as_str());
            s.put_binary(&will.payload);
        }
        if let Some(username) = &self.username {
            s.put_str(username);
        }
        if let Some(password) = &self.password {
            s.put_binary(password);
        }
    }
}
