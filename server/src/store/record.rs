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

/// A persistent session as stored. Its key is the site and the client id.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SessionRecord {
    pub routing_id: String,
    pub user: Option<String>,
    /// Seconds the session outlives its connection.
    pub expiry_interval: u32,
    /// When it ends, if its client is away; `None` while it was connected (after a crash the
    /// connection counts as lost at `saved_at`).
    pub expires_at: Option<WallClock>,
    pub saved_at: WallClock,
    pub ended_cleanly: bool,
    pub wills_scheduled: bool,
    pub will: Option<WillRecord>,
    pub extra_wills: Vec<(String, WillRecord)>,
    /// Wills waiting for their delay, with the time they fire.
    pub delayed_wills: Vec<(WallClock, WillRecord)>,
    /// Filter, options byte (v5 layout) and subscription identifier (0: none).
    pub subscriptions: Vec<(String, u8, u32)>,
    /// QoS 2 packet ids received and not yet released.
    pub qos2_in: Vec<u16>,
    /// Sent and not fully acknowledged: packet id, whether PUBREC came, the delivery.
    pub inflight: Vec<(u16, bool, DeliveryRecord)>,
    /// Waiting for the client or its window.
    pub pending: Vec<DeliveryRecord>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WillRecord {
    pub delay: u32,
    pub publish: Publish,
}

/// One message on its way to one subscriber.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DeliveryRecord {
    /// The message as published (its QoS, retain flag and properties).
    pub publish: Publish,
    pub expires_at: Option<WallClock>,
    /// The publisher's user and client id (`None`: the server).
    pub publisher: Option<(Option<String>, String)>,
    /// The topic it reaches this client on, when not the message's.
    pub topic: Option<String>,
    pub qos: QoS,
    pub retain: bool,
    pub subscription_ids: Vec<u32>,
}

/// Layout version of [`SessionRecord`].
const SESSION_V1: u8 = 1;

impl SessionRecord {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut w = Writer(Vec::new());
        w.u8(SESSION_V1);
        w.str(&self.routing_id);
        w.opt_str(self.user.as_deref());
        w.u32(self.expiry_interval);
        w.time(self.expires_at);
        w.u64(self.saved_at.0);
        w.u8(u8::from(self.ended_cleanly) | u8::from(self.wills_scheduled) << 1);
        w.opt(self.will.as_ref(), Writer::will);
        w.list(&self.extra_wills, |w, (id, will)| {
            w.str(id);
            w.will(will);
        });
        w.list(&self.delayed_wills, |w, (at, will)| {
            w.u64(at.0);
            w.will(will);
        });
        w.list(&self.subscriptions, |w, (filter, options, id)| {
            w.str(filter);
            w.u8(*options);
            w.u32(*id);
        });
        w.list(&self.qos2_in, |w, id| w.u16(*id));
        w.list(&self.inflight, |w, (id, released, d)| {
            w.u16(*id);
            w.u8(u8::from(*released));
            w.delivery(d);
        });
        w.list(&self.pending, Writer::delivery);
        w.0
    }

    /// `None` for bytes that are not a record of this layout.
    pub(crate) fn decode(bytes: &[u8]) -> Option<SessionRecord> {
        let mut r = Reader(bytes);
        if r.u8()? != SESSION_V1 {
            return None;
        }
        let routing_id = r.str()?;
        let user = r.opt(Reader::str)?;
        let expiry_interval = r.u32()?;
        let expires_at = r.time()?;
        let saved_at = WallClock(r.u64()?);
        let flags = r.u8()?;
        let record = SessionRecord {
            routing_id,
            user,
            expiry_interval,
            expires_at,
            saved_at,
            ended_cleanly: flags & 1 != 0,
            wills_scheduled: flags & 2 != 0,
            will: r.opt(Reader::will)?,
            extra_wills: r.list(|r| Some((r.str()?, r.will()?)))?,
            delayed_wills: r.list(|r| Some((WallClock(r.u64()?), r.will()?)))?,
            subscriptions: r.list(|r| Some((r.str()?, r.u8()?, r.u32()?)))?,
            qos2_in: r.list(Reader::u16)?,
            inflight: r.list(|r| Some((r.u16()?, r.u8()? != 0, r.delivery()?)))?,
            pending: r.list(Reader::delivery)?,
        };
        r.0.is_empty().then_some(record)
    }
}

/// Appends a record's fields: integers big-endian, strings and byte strings with a u32 length.
struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn bytes(&mut self, v: &[u8]) {
        self.u32(u32::try_from(v.len()).unwrap_or(u32::MAX));
        self.0.extend_from_slice(v);
    }
    fn str(&mut self, v: &str) {
        self.bytes(v.as_bytes());
    }
    fn opt_str(&mut self, v: Option<&str>) {
        self.opt(v, |w, s| w.str(s));
    }
    fn time(&mut self, v: Option<WallClock>) {
        self.u64(v.map_or(0, |w| w.0));
    }
    fn opt<T>(&mut self, v: Option<T>, f: impl FnOnce(&mut Writer, T)) {
        match v {
            Some(v) => {
                self.u8(1);
                f(self, v);
            }
            None => self.u8(0),
        }
    }
    fn list<T>(&mut self, items: &[T], mut f: impl FnMut(&mut Writer, &T)) {
        self.u32(u32::try_from(items.len()).unwrap_or(u32::MAX));
        for item in items {
            f(self, item);
        }
    }
    /// A message: its QoS, then the PUBLISH at QoS 0 (stored messages have no packet id).
    fn publish(&mut self, p: &Publish) {
        self.u8(p.qos as u8);
        let mut p = p.clone();
        p.qos = QoS::AtMostOnce;
        p.packet_id = None;
        let mut out = BytesMut::new();
        if encode(&Packet::Publish(p), ProtocolVersion::V5, &mut out).is_err() {
            tracing::warn!("a stored message could not be encoded");
        }
        self.bytes(&out);
    }
    fn will(&mut self, w: &WillRecord) {
        self.u32(w.delay);
        self.publish(&w.publish);
    }
    fn delivery(&mut self, d: &DeliveryRecord) {
        self.publish(&d.publish);
        self.time(d.expires_at);
        self.opt(d.publisher.as_ref(), |w, (user, client)| {
            w.opt_str(user.as_deref());
            w.str(client);
        });
        self.opt_str(d.topic.as_deref());
        self.u8(d.qos as u8);
        self.u8(u8::from(d.retain));
        self.list(&d.subscription_ids, |w, id| w.u32(*id));
    }
}

/// Reads what [`Writer`] wrote; `None` past the end or for a value out of range.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }
    fn bytes(&mut self) -> Option<&[u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    fn str(&mut self) -> Option<String> {
        String::from_utf8(self.bytes()?.to_vec()).ok()
    }
    fn time(&mut self) -> Option<Option<WallClock>> {
        let t = self.u64()?;
        Some((t != 0).then_some(WallClock(t)))
    }
    fn opt<T>(&mut self, f: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
        match self.u8()? {
            0 => Some(None),
            1 => f(self).map(Some),
            _ => None,
        }
    }
    fn list<T>(&mut self, mut f: impl FnMut(&mut Self) -> Option<T>) -> Option<Vec<T>> {
        let n = self.u32()? as usize;
        // Not trusting the count for an allocation: each item takes at least a byte.
        let mut items = Vec::with_capacity(n.min(self.0.len()));
        for _ in 0..n {
            items.push(f(self)?);
        }
        Some(items)
    }
    fn qos(&mut self) -> Option<QoS> {
        match self.u8()? {
            0 => Some(QoS::AtMostOnce),
            1 => Some(QoS::AtLeastOnce),
            2 => Some(QoS::ExactlyOnce),
            _ => None,
        }
    }
    fn publish(&mut self) -> Option<Publish> {
        let qos = self.qos()?;
        let mut decoder = Decoder::new(u32::MAX);
        decoder.set_version(ProtocolVersion::V5);
        let mut buf = BytesMut::from(self.bytes()?);
        let Ok(Some(Packet::Publish(mut publish))) = decoder.decode(&mut buf) else {
            return None;
        };
        publish.qos = qos;
        Some(publish)
    }
    fn will(&mut self) -> Option<WillRecord> {
        Some(WillRecord {
            delay: self.u32()?,
            publish: self.publish()?,
        })
    }
    fn delivery(&mut self) -> Option<DeliveryRecord> {
        Some(DeliveryRecord {
            publish: self.publish()?,
            expires_at: self.time()?,
            publisher: self.opt(|r| Some((r.opt(Reader::str)?, r.str()?)))?,
            topic: self.opt(Reader::str)?,
            qos: self.qos()?,
            retain: self.u8()? != 0,
            subscription_ids: self.list(Reader::u32)?,
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
    fn a_session_record_reads_back_as_written_and_a_cut_one_does_not() {
        let message = |topic: &str, qos| {
            let mut p = Publish::new(TopicName::try_from(topic).unwrap(), "payload");
            p.qos = qos;
            p.properties.user_properties.push(("k".into(), "v".into()));
            p
        };
        let delivery = DeliveryRecord {
            publish: message("a/b", QoS::ExactlyOnce),
            expires_at: Some(WallClock(5)),
            publisher: Some((Some("alice".into()), "alice-1".into())),
            topic: Some("b".into()),
            qos: QoS::AtLeastOnce,
            retain: true,
            subscription_ids: vec![1, 7],
        };
        let record = SessionRecord {
            routing_id: "r".repeat(20),
            user: None,
            expiry_interval: 300,
            expires_at: Some(WallClock(1_000)),
            saved_at: WallClock(900),
            ended_cleanly: false,
            wills_scheduled: true,
            will: Some(WillRecord {
                delay: 5,
                publish: message("gone", QoS::AtLeastOnce),
            }),
            extra_wills: vec![(
                "w1".into(),
                WillRecord {
                    delay: 0,
                    publish: message("x", QoS::AtMostOnce),
                },
            )],
            delayed_wills: vec![(
                WallClock(1_005),
                WillRecord {
                    delay: 5,
                    publish: message("gone", QoS::AtLeastOnce),
                },
            )],
            subscriptions: vec![("a/#".into(), 0b10_0101, 7), ("$share/g/c".into(), 1, 0)],
            qos2_in: vec![3, 9],
            inflight: vec![(12, true, delivery.clone())],
            pending: vec![
                delivery.clone(),
                DeliveryRecord {
                    publisher: None,
                    topic: None,
                    ..delivery
                },
            ],
        };
        let bytes = record.encode();
        assert_eq!(SessionRecord::decode(&bytes), Some(record));
        for cut in [1, bytes.len() / 2, bytes.len() - 1] {
            assert_eq!(SessionRecord::decode(&bytes[..cut]), None, "cut at {cut}");
        }
    }

    #[test]
    fn broker_time_and_wall_clock_convert_both_ways() {
        let start = WallClock(1_000_000);
        assert_eq!(start.at(Timestamp(500)), WallClock(1_000_500));
        assert_eq!(start.since(WallClock(1_000_500)), Timestamp(500));
        assert_eq!(start.since(WallClock(10)), Timestamp(0), "before the start");
    }
}
