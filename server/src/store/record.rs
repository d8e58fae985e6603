//! How records are laid out in the store. Times are wall-clock milliseconds since the Unix
//! epoch, so that expiry keeps counting while the server is down; a message is the MQTT v5
//! PUBLISH it would be sent as, encoded by pubzub-core's codec.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use pubzub_core::{Decoder, Packet, ProtocolVersion, Publish, QoS, Timestamp, encode};

/// Milliseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct WallClock(pub u64);

impl WallClock {
    pub(crate) fn now() -> WallClock {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        WallClock(u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
    }

    /// The wall-clock time of broker time `t`, for a broker whose time 0 was `self`.
    pub(crate) fn at(self, t: Timestamp) -> WallClock {
        WallClock(self.0.saturating_add(t.0))
    }

    /// Broker time of wall-clock time `wall` for a broker whose time 0 was `self`; a time
    /// before the broker started is its time 0.
    pub(crate) fn since(self, wall: WallClock) -> Timestamp {
        Timestamp(wall.0.saturating_sub(self.0))
    }
}

/// A retained message: its expiry (wall clock) and the message. Laid out as the version, the
/// QoS, the expiry (0: none) and the PUBLISH at QoS 0 (a stored message has no packet id).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RetainedRecord {
    pub expires_at: Option<WallClock>,
    pub publish: Publish,
}

/// Layout version of [`RetainedRecord`].
const RETAINED_V1: u8 = 1;

impl RetainedRecord {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = BytesMut::new();
        out.extend_from_slice(&[RETAINED_V1, self.publish.qos as u8]);
        out.extend_from_slice(&self.expires_at.map_or(0, |w| w.0).to_be_bytes());
        let mut publish = self.publish.clone();
        publish.qos = QoS::AtMostOnce;
        publish.packet_id = None;
        // A publish the broker holds was decoded or built within the codec's limits.
        if encode(&Packet::Publish(publish), ProtocolVersion::V5, &mut out).is_err() {
            tracing::warn!(topic = %self.publish.topic, "a retained message could not be encoded");
        }
        out.to_vec()
    }

    /// `None` for bytes that are not a record of this layout.
    pub(crate) fn decode(bytes: &[u8]) -> Option<RetainedRecord> {
        let (&[version, qos], rest) = bytes.split_first_chunk::<2>()?;
        if version != RETAINED_V1 {
            return None;
        }
        let qos = match qos {
            0 => QoS::AtMostOnce,
            1 => QoS::AtLeastOnce,
            2 => QoS::ExactlyOnce,
            _ => return None,
        };
        let (at, packet) = rest.split_at_checked(8)?;
        let at = u64::from_be_bytes(at.try_into().ok()?);
        let mut decoder = Decoder::new(u32::MAX);
        decoder.set_version(ProtocolVersion::V5);
        let mut buf = BytesMut::from(packet);
        let Ok(Some(Packet::Publish(mut publish))) = decoder.decode(&mut buf) else {
            return None;
        };
        publish.qos = qos;
        Some(RetainedRecord {
            expires_at: (at != 0).then_some(WallClock(at)),
            publish,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pubzub_core::TopicName;

    #[test]
    fn a_retained_record_reads_back_as_written() {
        let mut publish = Publish::new(TopicName::try_from("a/b").unwrap(), "payload");
        publish.qos = QoS::AtLeastOnce;
        publish.retain = true;
        publish.properties.content_type = Some("text/plain".into());
        publish.properties.message_expiry_interval = Some(60);
        let record = RetainedRecord {
            expires_at: Some(WallClock(1_800_000_000_000)),
            publish,
        };
        assert_eq!(RetainedRecord::decode(&record.encode()), Some(record));
        assert_eq!(RetainedRecord::decode(b"\x02garbage"), None);
        assert_eq!(RetainedRecord::decode(b""), None);
    }

    #[test]
    fn broker_time_and_wall_clock_convert_both_ways() {
        let start = WallClock(1_000_000);
        assert_eq!(start.at(Timestamp(500)), WallClock(1_000_500));
        assert_eq!(start.since(WallClock(1_000_500)), Timestamp(500));
        assert_eq!(start.since(WallClock(10)), Timestamp(0), "before the start");
    }
}
