//! Decode and encode errors. Every decode error knows the reason code a peer should be sent
//! before its connection is closed, so the server never has to guess.

use crate::{PacketType, ReasonCode, packet::PropertyId, topic::TopicError};

/// Why a byte sequence is not an acceptable MQTT packet.
///
/// Malformed packets (cannot be parsed per the spec's grammar) answer 0x81; packets that parse
/// but break a rule answer 0x82 or the more specific code the spec names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The packet is larger than the receiver's maximum packet size [MQTT-3.2.2-15]. Detected
    /// from the fixed header, before the body is buffered.
    #[error("packet of {size} bytes exceeds the maximum packet size of {max} bytes")]
    PacketTooLarge { size: usize, max: u32 },
    /// A variable byte integer continues past its 4th byte [MQTT-1.5.5].
    #[error("variable byte integer longer than 4 bytes")]
    MalformedVarInt,
    /// Packet type 0, or 15 (AUTH) under MQTT 3.1.1.
    #[error("invalid packet type {0}")]
    InvalidPacketType(u8),
    /// The fixed header's flag bits are not the ones the spec requires [MQTT-2.1.3-1].
    #[error("invalid fixed header flags {flags:#06b} for {packet:?}")]
    InvalidFlags { packet: PacketType, flags: u8 },
    /// Both QoS bits set in a PUBLISH or a will [MQTT-3.3.1-4].
    #[error("QoS 3 does not exist")]
    InvalidQoS,
    /// A field or a length prefix runs past the end of the packet.
    #[error("a field runs past the end of the packet")]
    UnexpectedEnd,
    /// Bytes left over after the last field of a packet.
    #[error("{0} unexpected bytes after the end of the packet")]
    TrailingBytes(usize),
    /// A string is not well-formed UTF-8 [MQTT-1.5.4-1].
    #[error("string is not valid UTF-8")]
    InvalidUtf8,
    /// A string contains U+0000 [MQTT-1.5.4-2].
    #[error("string contains the null character U+0000")]
    NullCharacter,
    /// CONNECT with a protocol name other than "MQTT" (or "MQIsdp" for 3.1).
    #[error("unknown protocol name")]
    InvalidProtocolName,
    /// CONNECT with a protocol level this codec does not speak (only 4 = 3.1.1 and 5 = 5.0).
    #[error("unsupported protocol level {0}")]
    UnsupportedProtocolVersion(u8),
    /// CONNECT flags break a rule: reserved bit set [MQTT-3.1.2-3], will flags without a will
    /// [MQTT-3.1.2-11/13], or a password without a user name under 3.1.1 [MQTT-3.1.2-22].
    #[error("invalid CONNECT flags {0:#010b}")]
    InvalidConnectFlags(u8),
    /// A topic name that is not valid: wildcards, empty without a topic alias, ...
    #[error("invalid topic name: {0}")]
    InvalidTopicName(TopicError),
    /// A topic filter that is not valid, such as `a/#/b` or `a+`.
    #[error("invalid topic filter: {0}")]
    InvalidTopicFilter(TopicError),
    /// Packet identifier 0 where a non-zero one is required [MQTT-2.2.1-3].
    #[error("packet identifier 0 is not allowed")]
    ZeroPacketId,
    /// A property given twice where the spec allows it once.
    #[error("property {0:?} given more than once")]
    DuplicateProperty(PropertyId),
    /// A property the packet type may not carry [MQTT-2.2.2.2].
    #[error("property {property:?} is not allowed in {packet:?}")]
    PropertyNotAllowed {
        property: PropertyId,
        packet: PacketType,
    },
    /// A property identifier the spec does not define.
    #[error("unknown property identifier {0:#04x}")]
    UnknownProperty(u32),
    /// A property value outside its range (e.g. Receive Maximum 0, Maximum QoS 2).
    #[error("invalid value for property {0:?}")]
    InvalidPropertyValue(PropertyId),
    /// A reason code that this packet type may not carry.
    #[error("reason code {code:#04x} is not valid in {packet:?}")]
    InvalidReasonCode { packet: PacketType, code: u8 },
    /// SUBSCRIBE or UNSUBSCRIBE without any topic filter [MQTT-3.8.3-2], [MQTT-3.10.3-2].
    #[error("no topic filter in {0:?}")]
    NoTopicFilters(PacketType),
    /// Subscription options with reserved bits set or Retain Handling 3 [MQTT-3.8.3-5].
    #[error("invalid subscription options {0:#010b}")]
    InvalidSubscriptionOptions(u8),
    /// A PUBLISH with a topic alias the receiver cannot accept (a client session resolves the
    /// server's aliases as it decodes).
    #[error(transparent)]
    TopicAlias(#[from] crate::AliasError),
}

impl DecodeError {
    /// The reason code to send in DISCONNECT (or CONNACK, for a bad CONNECT) before closing.
    pub fn reason_code(&self) -> ReasonCode {
        use DecodeError::*;
        match self {
            PacketTooLarge { .. } => ReasonCode::PacketTooLarge,
            TopicAlias(e) => e.reason_code(),
            UnsupportedProtocolVersion(_) => ReasonCode::UnsupportedProtocolVersion,
            // A zero-length topic without a Topic Alias is a protocol error [MQTT-3.3.2.3.4].
            InvalidTopicName(TopicError::Empty) => ReasonCode::ProtocolError,
            InvalidTopicName(_) => ReasonCode::TopicNameInvalid,
            InvalidTopicFilter(_) => ReasonCode::TopicFilterInvalid,
            ZeroPacketId
            | DuplicateProperty(_)
            | InvalidPropertyValue(_)
            | NoTopicFilters(_)
            | InvalidProtocolName => ReasonCode::ProtocolError,
            MalformedVarInt
            | InvalidPacketType(_)
            | InvalidFlags { .. }
            | InvalidQoS
            | UnexpectedEnd
            | TrailingBytes(_)
            | InvalidUtf8
            | NullCharacter
            | InvalidConnectFlags(_)
            | PropertyNotAllowed { .. }
            | UnknownProperty(_)
            | InvalidReasonCode { .. }
            | InvalidSubscriptionOptions(_) => ReasonCode::MalformedPacket,
        }
    }
}

/// Why a packet cannot be encoded. Nothing is written when encoding fails.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A string or binary field longer than 65,535 bytes [MQTT-1.5.4].
    #[error("a string or binary field of {0} bytes is longer than 65535 bytes")]
    FieldTooLong(usize),
    /// A value above 268,435,455, the largest variable byte integer [MQTT-1.5.5].
    #[error("{0} does not fit in a variable byte integer")]
    VarIntTooLarge(usize),
    /// The encoded packet exceeds the peer's maximum packet size.
    #[error("packet of {size} bytes exceeds the maximum packet size of {max} bytes")]
    PacketTooLarge { size: usize, max: u32 },
    /// A QoS 1 or 2 PUBLISH without a packet identifier, or a QoS 0 one with one [MQTT-2.2.1-2].
    #[error("packet identifier must be present exactly when QoS > 0")]
    PacketIdMismatch,
    /// The packet type does not exist in the protocol version (AUTH under 3.1.1).
    #[error("{0:?} does not exist in MQTT 3.1.1")]
    NotInVersion(PacketType),
    /// A PUBLISH with an empty topic but no Topic Alias (or under 3.1.1) [MQTT-3.3.2-1].
    #[error("a PUBLISH with an empty topic needs a topic alias (MQTT 5 only)")]
    EmptyTopic,
    /// A SUBSCRIBE or UNSUBSCRIBE with no topic filters.
    #[error("no topic filter given")]
    NoTopicFilters,
    /// A packet only a server sends, in a build without the `server` feature.
    #[error("{0:?} is written by servers; this build has no `server` feature")]
    ServerOnly(PacketType),
}
