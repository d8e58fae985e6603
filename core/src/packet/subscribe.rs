//! SUBSCRIBE [MQTT-3.8]: topic filters with their subscription options.

// Without the `server` feature one direction of this packet is left out, with its imports.
#![cfg_attr(not(feature = "server"), allow(unused_imports))]

use super::{PacketId, PacketType, ProtocolVersion, QoS, SubscribeProperties};
use crate::{
    DecodeError, EncodeError, TopicFilter,
    wire::{Reader, Sink},
};

/// A subscription request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribe {
    pub packet_id: PacketId,
    pub properties: SubscribeProperties,
    /// At least one [MQTT-3.8.3-2].
    pub filters: Vec<SubscribeFilter>,
}

/// One topic filter of a SUBSCRIBE and its options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscribeFilter {
    pub filter: TopicFilter,
    pub options: SubscriptionOptions,
}

/// Subscription options [MQTT-3.8.3.1]. Under 3.1.1 only `qos` exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SubscriptionOptions {
    /// The highest QoS the subscriber accepts.
    pub qos: QoS,
    /// Do not deliver the subscriber's own publications back to it.
    pub no_local: bool,
    /// Keep the RETAIN flag of forwarded messages as published.
    pub retain_as_published: bool,
    pub retain_handling: RetainHandling,
}

/// When retained messages are sent for a new subscription [MQTT-3.8.3.1].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum RetainHandling {
    /// At every subscribe.
    #[default]
    SendAtSubscribe = 0,
    /// Only if the subscription did not exist yet.
    SendIfNew = 1,
    /// Never.
    DoNotSend = 2,
}

impl SubscriptionOptions {
    /// The options from their byte in a SUBSCRIBE [MQTT-3.8.3.1].
    #[cfg(feature = "server")]
    pub fn from_byte(b: u8, version: ProtocolVersion) -> Result<SubscriptionOptions, DecodeError> {
        let reserved = if version.is_v5() { 0xC0 } else { 0xFC };
        let retain_handling = match (b >> 4) & 0b11 {
            0 => RetainHandling::SendAtSubscribe,
            1 => RetainHandling::SendIfNew,
            2 => RetainHandling::DoNotSend,
            _ => return Err(DecodeError::InvalidSubscriptionOptions(b)),
        };
        if b & reserved != 0 {
            return Err(DecodeError::InvalidSubscriptionOptions(b)); // [MQTT-3.8.3-5]
        }
        Ok(SubscriptionOptions {
            qos: QoS::from_bits(b & 0b11)?,
            no_local: b & 0b100 != 0,
            retain_as_published: b & 0b1000 != 0,
            retain_handling,
        })
    }

    /// The options as their byte in a SUBSCRIBE [MQTT-3.8.3.1].
    pub fn to_byte(self, version: ProtocolVersion) -> u8 {
        let qos = self.qos as u8;
        if !version.is_v5() {
            return qos;
        }
        qos | (u8::from(self.no_local) << 2)
            | (u8::from(self.retain_as_published) << 3)
            | ((self.retain_handling as u8) << 4)
    }
}

impl Subscribe {
    #[cfg(feature = "server")]
    pub(crate) fn read(r: &mut Reader, version: ProtocolVersion) -> Result<Subscribe, DecodeError> {
        let packet_id = PacketId::read(r)?;
        let properties = if version.is_v5() {
            SubscribeProperties::read(r, PacketType::Subscribe)?
        } else {
            Default::default()
        };
        let mut filters = Vec::new();
        while !r.is_empty() {
            let filter =
                TopicFilter::try_from(r.string()?).map_err(DecodeError::InvalidTopicFilter)?;
            let options = SubscriptionOptions::from_byte(r.u8()?, version)?;
            if options.no_local && filter.shared().is_some() {
                // No Local on a shared subscription is a protocol error [MQTT-3.8.3-4].
                return Err(DecodeError::InvalidSubscriptionOptions(
                    options.to_byte(version),
                ));
            }
            filters.push(SubscribeFilter { filter, options });
        }
        if filters.is_empty() {
            return Err(DecodeError::NoTopicFilters(PacketType::Subscribe));
        }
        Ok(Subscribe {
            packet_id,
            properties,
            filters,
        })
    }

    pub(crate) fn write<S: Sink>(&self, s: &mut S, version: ProtocolVersion) {
        if self.filters.is_empty() {
            return s.fail(EncodeError::NoTopicFilters);
        }
        s.put_u16(self.packet_id.get());
        if version.is_v5() {
            self.properties.write(s);
        }
        for f in &self.filters {
            s.put_str(f.filter.as_str());
            s.put_u8(f.options.to_byte(version));
        }
    }
}
