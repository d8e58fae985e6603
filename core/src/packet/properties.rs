//! MQTT v5 properties [MQTT-2.2.2]: the 27 property identifiers and, per packet type, a
//! struct holding exactly the properties that packet may carry.
//!
//! The structs are declared as tables with `property_set!`, which generates the fields, the
//! reader (rejecting duplicates and properties foreign to the packet) and the writer. User
//! properties keep their order and may repeat a key [MQTT-3.1.3-10].

use std::num::{NonZeroU16, NonZeroU32};

use bytes::Bytes;

use crate::{
    ByteStr, DecodeError, PacketType, QoS, TopicName,
    wire::{Reader, Sink},
};

/// A property identifier [MQTT-2.2.2.2].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PropertyId {
    PayloadFormatIndicator = 0x01,
    MessageExpiryInterval = 0x02,
    ContentType = 0x03,
    ResponseTopic = 0x08,
    CorrelationData = 0x09,
    SubscriptionIdentifier = 0x0B,
    SessionExpiryInterval = 0x11,
    AssignedClientIdentifier = 0x12,
    ServerKeepAlive = 0x13,
    AuthenticationMethod = 0x15,
    AuthenticationData = 0x16,
    RequestProblemInformation = 0x17,
    WillDelayInterval = 0x18,
    RequestResponseInformation = 0x19,
    ResponseInformation = 0x1A,
    ServerReference = 0x1C,
    ReasonString = 0x1F,
    ReceiveMaximum = 0x21,
    TopicAliasMaximum = 0x22,
    TopicAlias = 0x23,
    MaximumQoS = 0x24,
    RetainAvailable = 0x25,
    UserProperty = 0x26,
    MaximumPacketSize = 0x27,
    WildcardSubscriptionAvailable = 0x28,
    SubscriptionIdentifierAvailable = 0x29,
    SharedSubscriptionAvailable = 0x2A,
}

impl PropertyId {
    fn from_u32(id: u32) -> Result<PropertyId, DecodeError> {
        use PropertyId::*;
        Ok(match id {
            0x01 => PayloadFormatIndicator,
            0x02 => MessageExpiryInterval,
            0x03 => ContentType,
            0x08 => ResponseTopic,
            0x09 => CorrelationData,
            0x0B => SubscriptionIdentifier,
            0x11 => SessionExpiryInterval,
            0x12 => AssignedClientIdentifier,
            0x13 => ServerKeepAlive,
            0x15 => AuthenticationMethod,
            0x16 => AuthenticationData,
            0x17 => RequestProblemInformation,
            0x18 => WillDelayInterval,
            0x19 => RequestResponseInformation,
            0x1A => ResponseInformation,
            0x1C => ServerReference,
            0x1F => ReasonString,
            0x21 => ReceiveMaximum,
            0x22 => TopicAliasMaximum,
            0x23 => TopicAlias,
            0x24 => MaximumQoS,
            0x25 => RetainAvailable,
            0x26 => UserProperty,
            0x27 => MaximumPacketSize,
            0x28 => WildcardSubscriptionAvailable,
            0x29 => SubscriptionIdentifierAvailable,
            0x2A => SharedSubscriptionAvailable,
            other => return Err(DecodeError::UnknownProperty(other)),
        })
    }
}

/// A user property: a name and a value, both UTF-8 strings.
pub type UserProperty = (ByteStr, ByteStr);

/// A subscription identifier, 1 to 268,435,455 [MQTT-3.8.2.1.2].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubscriptionId(pub NonZeroU32);

impl SubscriptionId {
    /// `None` for 0 and for values above the variable byte integer range.
    pub fn new(id: u32) -> Option<SubscriptionId> {
        if id as usize > crate::wire::VARINT_MAX {
            return None;
        }
        NonZeroU32::new(id).map(SubscriptionId)
    }
    pub fn get(self) -> u32 {
        self.0.get()
    }
}

/// A value type a property can hold, with its wire form.
pub(crate) trait PropertyValue: Sized {
    fn read(r: &mut Reader, id: PropertyId) -> Result<Self, DecodeError>;
    /// Writes the property: its identifier `id`, then the value.
    fn write<S: Sink>(&self, id: PropertyId, s: &mut S);
}

impl PropertyValue for u16 {
    fn read(r: &mut Reader, _: PropertyId) -> Result<Self, DecodeError> {
        r.u16()
    }
    fn write<S: Sink>(&self, id: PropertyId, s: &mut S) {
        s.put_tagged(id as u8, &self.to_be_bytes())
    }
}

impl PropertyValue for u32 {
    fn read(r: &mut Reader, _: PropertyId) -> Result<Self, DecodeError> {
        r.u32()
    }
    fn write<S: Sink>(&self, id: PropertyId, s: &mut S) {
        s.put_tagged(id as u8, &self.to_be_bytes())
    }
}

/// Byte properties that the spec restricts to 0 or 1.
impl PropertyValue for bool {
    fn read(r: &mut Reader, id: PropertyId) -> Result<Self, DecodeError> {
        match r.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError::InvalidPropertyValue(id)),
        }
    }
    fn write<S: Sink>(&self, id: PropertyId, s: &mut S) {
        s.put_tagged(id as u8, &[u8::from(*self)])
    }
}

/// Receive Maximum and Topic Alias: 0 is a protocol error [MQTT-3.3.2-8].
impl PropertyValue for NonZeroU16 {
    fn read(r: &mut Reader, id: PropertyId) -> Result<Self, DecodeError> {
        NonZeroU16::new(r.u16()?).ok_or(DecodeError::InvalidPropertyValue(id))
    }
    fn write<S: Sink>(&self, id: PropertyId, s: &mut S) {
        s.put_tagged(id as u8, &self.get().to_be_bytes())
    }
}

/// Maximum Packet Size: 0 is a protocol error [MQTT-3.1.2.11.4].
impl PropertyValue for NonZeroU32 {
    fn read(r: &mut Reader, id: PropertyId) -> Result<Self, DecodeError> {
        NonZeroU32::new(r.u32()?).ok_or(DecodeError::InvalidPropertyValue(id))
    }
    fn write<S: Sink>(&self, id: PropertyId, s: &mut S) {
        s.put_tagged(id as u8, &self.get().to_be_bytes())
    }
}

/// Maximum QoS: only 0 or 1 may be sent [MQTT-3.2.2.3.4].
impl PropertyValue for QoS {
    fn read(r: &mut Reader, id: PropertyId) -> Result<Self, DecodeError> {
        match r.u8()? {
            0 => Ok(QoS::AtMostOnce),
            1 => Ok(QoS::AtLeastOnce),
            _ => Err(DecodeError::InvalidPropertyValue(id)),
        }
    }
    fn write<S: Sink>(&self, id: PropertyId, s: &mut S) {
        s.put_tagged(id as u8, &[*self as u8])
    }
}

impl PropertyValue for SubscriptionId {
    fn read(r: &mut Reader, id: PropertyId) -> Result<Self, DecodeError> {
        SubscriptionId::new(r.varint()?).ok_or(DecodeError::InvalidPropertyValue(id))
    }
    fn write<S: Sink>(&self, id: PropertyId, s: &mut S) {
        s.put_u8(id as u8);
        s.put_varint(self.get() as usize)
    }
}

impl PropertyValue for ByteStr {
    fn read(r: &mut Reader, _: PropertyId) -> Result<Self, DecodeError> {
        r.string()
    }
    fn write<S: Sink>(&self, id: PropertyId, s: &mut S) {
        s.put_tagged_binary(id as u8, self.as_bytes())
    }
}

impl PropertyValue for Bytes {
    fn read(r: &mut Reader, _: PropertyId) -> Result<Self, DecodeError> {
        r.binary()
    }
    fn write<S: Sink>(&self, id: PropertyId, s: &mut S) {
        s.put_tagged_binary(id as u8, self)
    }
}

/// Response Topic: a topic name without wildcards [MQTT-3.3.2-14].
impl PropertyValue for TopicName {
    fn read(r: &mut Reader, _: PropertyId) -> Result<Self, DecodeError> {
        TopicName::try_from(r.string()?).map_err(DecodeError::InvalidTopicName)
    }
    fn write<S: Sink>(&self, id: PropertyId, s: &mut S) {
        s.put_tagged_binary(id as u8, self.as_str().as_bytes())
    }
}

/// Iterates the identifiers of one property section, reading in place from the packet's
/// reader (no sub-buffer, so no extra reference count traffic on the hot path).
struct Section<'r> {
    r: &'r mut Reader,
    /// What the reader has left once the section is consumed.
    end: usize,
}

impl<'r> Section<'r> {
    /// Reads the Property Length [MQTT-2.2.2.1].
    fn open(r: &'r mut Reader) -> Result<Section<'r>, DecodeError> {
        let len = r.varint()? as usize;
        let end = r
            .remaining()
            .checked_sub(len)
            .ok_or(DecodeError::UnexpectedEnd)?;
        Ok(Section { r, end })
    }

    fn next_id(&mut self) -> Result<Option<PropertyId>, DecodeError> {
        match self.r.remaining() {
            n if n == self.end => Ok(None),
            // The last value ran past the end of the section.
            n if n < self.end => Err(DecodeError::UnexpectedEnd),
            _ => PropertyId::from_u32(self.r.varint()?).map(Some),
        }
    }

    fn once<T: PropertyValue>(
        &mut self,
        id: PropertyId,
        slot: &mut Option<T>,
    ) -> Result<(), DecodeError> {
        if slot.is_some() {
            return Err(DecodeError::DuplicateProperty(id));
        }
        *slot = Some(T::read(self.r, id)?);
        Ok(())
    }

    fn user_property(&mut self) -> Result<UserProperty, DecodeError> {
        Ok((self.r.string()?, self.r.string()?))
    }
}

#[cfg_attr(feature = "server", inline(always))]
fn write_user_properties<S: Sink>(s: &mut S, props: &[UserProperty]) {
    for (name, value) in props {
        s.put_tagged_binary(PropertyId::UserProperty as u8, name.as_bytes());
        s.put_str(value);
    }
}

/// Declares a property struct: one `Option` field per property the packet may carry once,
/// an optional repeated property, and the user properties.
macro_rules! property_set {
    (
        $(#[$meta:meta])*
        $name:ident {
            $( $(#[$fmeta:meta])* $field:ident: $ty:ty = $id:ident, )*
        }
        $( repeated $(#[$rmeta:meta])* $rfield:ident: $rty:ty = $rid:ident; )?
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: Option<$ty>, )*
            $( $(#[$rmeta])* pub $rfield: Vec<$rty>, )?
            /// User properties in the order received; names may repeat.
            pub user_properties: Vec<UserProperty>,
        }

        impl $name {
            /// Reads the Property Length and the properties of a `packet`.
            // A client build reads only the sets servers send; PUBLISH reads in place.
            #[allow(dead_code)]
            pub(crate) fn read(r: &mut Reader, packet: PacketType) -> Result<Self, DecodeError> {
                let mut props = Self::default();
                props.read_into(r, packet)?;
                Ok(props)
            }

            /// [`Self::read`] into `self`, an empty set where the packet is being built: a
            /// set is well over 100 bytes, and every move of it costs.
            #[cfg_attr(not(feature = "server"), allow(dead_code))]
            pub(crate) fn read_into(
                &mut self,
                r: &mut Reader,
                packet: PacketType,
            ) -> Result<(), DecodeError> {
                let mut section = Section::open(r)?;
                while let Some(id) = section.next_id()? {
                    match id {
                        $( PropertyId::$id => section.once(id, &mut self.$field)?, )*
                        $( PropertyId::$rid => self.$rfield.push(<$rty>::read(section.r, id)?), )?
                        PropertyId::UserProperty => self.user_properties.push(section.user_property()?),
                        #[allow(unreachable_patterns)]
                        property => {
                            return Err(DecodeError::PropertyNotAllowed { property, packet });
                        }
                    }
                }
                Ok(())
            }

            /// Writes the Property Length and the properties.
            #[cfg_attr(not(feature = "server"), allow(dead_code))]
            #[cfg_attr(feature = "server", inline(always))]
            pub(crate) fn write<S: Sink>(&self, s: &mut S) {
                let section = s.open_section();
                self.write_items(s);
                s.close_section(section);
            }

            #[cfg_attr(not(feature = "server"), allow(dead_code))]
            #[cfg_attr(feature = "server", inline(always))]
            fn write_items<S: Sink>(&self, s: &mut S) {
                $( if let Some(v) = &self.$field { v.write(PropertyId::$id, s); } )*
                $( for v in &self.$rfield { v.write(PropertyId::$rid, s); } )?
                write_user_properties(s, &self.user_properties);
            }
        }
    };
}

property_set! {
    /// CONNECT properties [MQTT-3.1.2.11].
    ConnectProperties {
        /// Seconds the session outlives the connection; 0xFFFFFFFF never expires.
        session_expiry_interval: u32 = SessionExpiryInterval,
        receive_maximum: NonZeroU16 = ReceiveMaximum,
        maximum_packet_size: NonZeroU32 = MaximumPacketSize,
        topic_alias_maximum: u16 = TopicAliasMaximum,
        request_response_information: bool = RequestResponseInformation,
        request_problem_information: bool = RequestProblemInformation,
        authentication_method: ByteStr = AuthenticationMethod,
        authentication_data: Bytes = AuthenticationData,
    }
}

property_set! {
    /// Will properties, in the CONNECT payload [MQTT-3.1.3.2].
    WillProperties {
        will_delay_interval: u32 = WillDelayInterval,
        /// `true`: the payload is UTF-8 text.
        payload_format_indicator: bool = PayloadFormatIndicator,
        message_expiry_interval: u32 = MessageExpiryInterval,
        content_type: ByteStr = ContentType,
        response_topic: TopicName = ResponseTopic,
        correlation_data: Bytes = CorrelationData,
    }
}

property_set! {
    /// CONNACK properties [MQTT-3.2.2.3].
    ConnAckProperties {
        session_expiry_interval: u32 = SessionExpiryInterval,
        receive_maximum: NonZeroU16 = ReceiveMaximum,
        maximum_qos: QoS = MaximumQoS,
        retain_available: bool = RetainAvailable,
        maximum_packet_size: NonZeroU32 = MaximumPacketSize,
        assigned_client_identifier: ByteStr = AssignedClientIdentifier,
        topic_alias_maximum: u16 = TopicAliasMaximum,
        reason_string: ByteStr = ReasonString,
        wildcard_subscription_available: bool = WildcardSubscriptionAvailable,
        subscription_identifiers_available: bool = SubscriptionIdentifierAvailable,
        shared_subscription_available: bool = SharedSubscriptionAvailable,
        server_keep_alive: u16 = ServerKeepAlive,
        response_information: ByteStr = ResponseInformation,
        server_reference: ByteStr = ServerReference,
        authentication_method: ByteStr = AuthenticationMethod,
        authentication_data: Bytes = AuthenticationData,
    }
}

property_set! {
    /// PUBLISH properties [MQTT-3.3.2.3].
    PublishProperties {
        /// `true`: the payload is UTF-8 text.
        payload_format_indicator: bool = PayloadFormatIndicator,
        message_expiry_interval: u32 = MessageExpiryInterval,
        topic_alias: NonZeroU16 = TopicAlias,
        response_topic: TopicName = ResponseTopic,
        correlation_data: Bytes = CorrelationData,
        content_type: ByteStr = ContentType,
    }
    repeated
    /// One per matching subscription that has an identifier [MQTT-3.3.4-3].
    subscription_identifiers: SubscriptionId = SubscriptionIdentifier;
}

property_set! {
    /// Properties of PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK and UNSUBACK [MQTT-3.4.2.2].
    AckProperties {
        reason_string: ByteStr = ReasonString,
    }
}

property_set! {
    /// SUBSCRIBE properties [MQTT-3.8.2.1].
    SubscribeProperties {
        subscription_identifier: SubscriptionId = SubscriptionIdentifier,
    }
}

property_set! {
    /// UNSUBSCRIBE properties: user properties only [MQTT-3.10.2.1].
    UnsubscribeProperties {}
}

property_set! {
    /// DISCONNECT properties [MQTT-3.14.2.2].
    DisconnectProperties {
        session_expiry_interval: u32 = SessionExpiryInterval,
        reason_string: ByteStr = ReasonString,
        server_reference: ByteStr = ServerReference,
    }
}

property_set! {
    /// AUTH properties [MQTT-3.15.2.2].
    AuthProperties {
        authentication_method: ByteStr = AuthenticationMethod,
        authentication_data: Bytes = AuthenticationData,
        reason_string: ByteStr = ReasonString,
    }
}

impl AckProperties {
    pub(crate) fn is_empty(&self) -> bool {
        self.reason_string.is_none() && self.user_properties.is_empty()
    }
}

impl DisconnectProperties {
    pub(crate) fn is_empty(&self) -> bool {
        *self == DisconnectProperties::default()
    }
}

impl AuthProperties {
    pub(crate) fn is_empty(&self) -> bool {
        *self == AuthProperties::default()
    }
}
