//! UNSUBSCRIBE [MQTT-3.10].

// Without the `server` feature one direction of this packet is left out, with its imports.
#![cfg_attr(not(feature = "server"), allow(unused_imports))]

use super::{PacketId, PacketType, ProtocolVersion, UnsubscribeProperties};
use crate::{
    DecodeError, EncodeError, TopicFilter,
    wire::{Reader, Sink},
};

/// A request to remove subscriptions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribe {
    pub packet_id: PacketId,
    pub properties: UnsubscribeProperties,
    /// At least one [MQTT-3.10.3-2].
    pub filters: Vec<TopicFilter>,
}

impl Unsubscribe {
    #[cfg(feature = "server")]
    pub(crate) fn read(
        r: &mut Reader,
        version: ProtocolVersion,
    ) -> Result<Unsubscribe, DecodeError> {
        let packet_id = PacketId::read(r)?;
        let properties = if version.is_v5() {
            UnsubscribeProperties::read(r, PacketType::Unsubscribe)?
        } else {
            Default::default()
        };
        let mut filters = Vec::new();
        while !r.is_empty() {
            filters
                .push(TopicFilter::try_from(r.string()?).map_err(DecodeError::InvalidTopicFilter)?);
        }
        if filters.is_empty() {
            return Err(DecodeError::NoTopicFilters(PacketType::Unsubscribe));
        }
        Ok(Unsubscribe {
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
            s.put_str(f.as_str());
        }
    }
}
