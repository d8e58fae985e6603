//! What the store needs from the broker: the retained messages and persistent sessions changed
//! since the last commit, as store records, and the stored ones put back at start.
//!
//! Times go to the store as wall-clock times (`start` is the wall-clock time of the broker's
//! time 0), so expiries and will delays count the time the server was down.

use std::collections::HashSet;

use pubzub_core::{
    ByteStr, Packet, PacketId, Pattern, ProtocolVersion, ReasonCode, SubscriptionId,
    SubscriptionOptions, Timestamp, TopicName,
};

use super::session::SubRecord;
use super::{
    Broker, ConnId, Delivery, Message, Outgoing, Session, Subscriber, TreeEntry, WillMessage,
};
use crate::acl::{Context, Grant};
use crate::store::{
    Change, DeliveryRecord, Kind, RetainedRecord, SessionRecord, WallClock, WillRecord, key,
};

/// What changed since the store last took the changes.
#[derive(Debug, Default)]
pub(crate) struct Changed {
    retained: HashSet<TopicName>,
    sessions: HashSet<ByteStr>,
    /// The client ids whose sessions the store holds: a session without expiry that changed
    /// needs a delete only when it replaced one of these.
    stored: HashSet<ByteStr>,
    /// `durability = "sync"`: PUBACK/PUBREC wait for the commit of what their message changed.
    hold_acks: bool,
    held: Vec<HeldAck>,
    /// The last write failed (a full disk): QoS 1/2 publications are refused with 0x97.
    failing: bool,
}

/// An acknowledgement waiting for its commit.
#[derive(Debug)]
pub(crate) struct HeldAck {
    client: ByteStr,
    conn: ConnId,
    packet: Packet,
}

/// What [`Broker::take_changes`] hands the store: records to write, and acknowledgements to
/// send once they are on disk.
#[derive(Debug, Default)]
pub(crate) struct Commit {
    pub changes: Vec<Change>,
    pub acks: Vec<HeldAck>,
}

impl Broker {
    /// From now on, remember what changes for the store; with `hold_acks`, acknowledgements
    /// of QoS 1/2 publications wait until the commit after them.
    pub(crate) fn track_changes(&mut self, hold_acks: bool) {
        self.changed.get_or_insert_with(Changed::default).hold_acks = hold_acks;
    }

    /// Sends the PUBACK or PUBREC of a client's publication, or holds it for the next commit.
    pub(crate) fn acknowledge(&mut self, client: &ByteStr, conn: ConnId, packet: Packet) {
        if let Some(changed) = self.changed.as_mut().filter(|c| c.hold_acks) {
            changed.held.push(HeldAck {
                client: client.clone(),
                conn,
                packet,
            });
        } else if let Some(link) = self.linked(client, conn).and_then(|s| s.link.as_ref()) {
            link.send(Outgoing::packet(packet));
        }
    }

    /// Whether the store's last write failed: QoS 1/2 publications get 0x97 meanwhile.
    pub(super) fn store_failing(&self) -> bool {
        self.changed.as_ref().is_some_and(|c| c.failing)
    }

    /// What became of a commit: on disk (`written`), its acknowledgements go out as they
    /// are. Not: they go out as 0x97 (quota exceeded: the message is not kept, though a
    /// subscriber online may have had it), and QoS 1/2 publications get 0x97 until a write
    /// succeeds again; the changes themselves are tried again with the next commit.
    pub(crate) fn committed(&mut self, acks: Vec<HeldAck>, written: bool) {
        if let Some(changed) = &mut self.changed {
            changed.failing = !written;
        }
        for mut ack in acks {
            let Some(session) = self.linked(&ack.client, ack.conn) else {
                continue;
            };
            if !written {
                match &mut ack.packet {
                    Packet::PubAck(a) => a.reason_code = ReasonCode::QuotaExceeded,
                    Packet::PubRec(a) => {
                        a.reason_code = ReasonCode::QuotaExceeded;
                        // The QoS 2 exchange ends with a refusing PUBREC.
                        session.qos2_in.remove(&a.packet_id.get());
                    }
                    _ => {}
                }
            }
            if let Some(link) = &session.link {
                link.send(Outgoing::packet(ack.packet));
            }
        }
    }

    /// Whether a store keeps this broker's state across restarts.
    pub(super) fn is_durable(&self) -> bool {
        self.changed.is_some()
    }

    pub(super) fn retained_changed(&mut self, topic: &TopicName) {
        if let Some(changed) = &mut self.changed {
            changed.retained.insert(topic.clone());
        }
    }

    pub(super) fn session_changed(&mut self, client: &ByteStr) {
        if let Some(changed) = &mut self.changed {
            changed.sessions.insert(client.clone());
        }
    }

    /// The changes since the last call, as store records (`None`: gone), and the
    /// acknowledgements waiting for them.
    pub(crate) fn take_changes(&mut self, start: WallClock, now: Timestamp) -> Commit {
        let Some(changed) = &mut self.changed else {
            return Commit::default();
        };
        let acks = std::mem::take(&mut changed.held);
        let retained = std::mem::take(&mut changed.retained);
        let sessions = std::mem::take(&mut changed.sessions);
        let mut out = Vec::with_capacity(retained.len() + sessions.len());
        for topic in retained {
            let record = self.retained.get(&topic, now).map(|r| {
                RetainedRecord {
                    expires_at: r.expires_at.map(|t| start.at(t)),
                    publish: r.message.publish.clone(),
                }
                .encode()
            });
            out.push((Kind::Retained, key(&self.site, &topic), record));
        }
        for client in sessions {
            let record = self
                .sessions
                .get(&client)
                .filter(|s| s.expiry_interval > 0)
                .map(|s| self.session_record(s, start, now).encode());
            let Some(changed) = &mut self.changed else {
                break;
            };
            let was_stored = if record.is_some() {
                !changed.stored.insert(client.clone())
            } else {
                changed.stored.remove(&client)
            };
            if record.is_some() || was_stored {
                out.push((Kind::Session, key(&self.site, &client), record));
            }
        }
        Commit { changes: out, acks }
    }

    fn session_record(&self, s: &Session, start: WallClock, now: Timestamp) -> SessionRecord {
        let will = |w: &WillMessage| WillRecord {
            delay: w.delay,
            publish: w.publish.clone(),
        };
        let delivery = |d: &Delivery| DeliveryRecord {
            publish: d.message.publish.clone(),
            expires_at: d.message.expires_at.map(|t| start.at(t)),
            publisher: d.message.publisher.as_ref().and_then(|p| {
                let client = p.client_id.as_ref()?;
                Some((p.user.as_ref().map(|u| u.to_string()), client.to_string()))
            }),
            topic: d.topic.as_ref().map(|t| t.to_string()),
            qos: d.qos,
            retain: d.retain,
            subscription_ids: d.subscription_ids.iter().map(|id| id.0.get()).collect(),
        };
        let subscriptions = s
            .subscriptions
            .iter()
            .filter_map(|(filter, rec)| match self.tree.get(rec.key)? {
                TreeEntry::Client(sub) => Some((
                    filter.to_string(),
                    sub.options.to_byte(ProtocolVersion::V5),
                    sub.id.map_or(0, |id| id.0.get()),
                )),
                TreeEntry::Handler(_) => None,
            })
            .collect();
        let delayed_wills = self
            .delayed_wills
            .iter()
            .filter(|(_, (ctx, _))| ctx.client_id.as_ref() == Some(&s.client_id))
            .map(|((at, _), (_, w))| (start.at(*at), will(w)))
            .collect();
        let (inflight, pending) = s.queue();
        SessionRecord {
            routing_id: s.routing_id.to_string(),
            user: s.ctx.user.as_ref().map(|u| u.to_string()),
            expiry_interval: s.expiry_interval,
            expires_at: s.expires_at.map(|t| start.at(t)),
            saved_at: start.at(now),
            ended_cleanly: s.ended_cleanly,
            wills_scheduled: s.wills_scheduled,
            will: s.will.as_deref().map(will),
            extra_wills: s
                .extra_wills
                .iter()
                .map(|(id, w)| (id.to_string(), will(w)))
                .collect(),
            delayed_wills,
            subscriptions,
            qos2_in: s.qos2_in.iter().copied().collect(),
            inflight: inflight
                .map(|(id, released, d)| (id.get(), released, delivery(d)))
                .collect(),
            pending: pending.map(delivery).collect(),
        }
    }

    /// Puts back the retained messages the store kept, by topic. Expired and unreadable ones
    /// are left out and deleted with the next commit. Returns how many came back.
    pub(crate) fn restore_retained(
        &mut self,
        stored: Vec<(String, Vec<u8>)>,
        start: WallClock,
        now: Timestamp,
    ) -> usize {
        let mut restored = 0;
        for (topic, bytes) in stored {
            let record = RetainedRecord::decode(&bytes);
            let live = record.filter(|r| r.expires_at.is_none_or(|at| start.since(at) > now));
            let Some(record) = live else {
                if let Ok(topic) = TopicName::try_from(topic) {
                    self.retained_changed(&topic);
                }
                continue;
            };
            let expires_at = record.expires_at.map(|at| start.since(at));
            let message = Message::restored(record.publish, None, expires_at, now);
            self.retained
                .set(message.publish.topic.clone(), message, expires_at);
            restored += 1;
        }
        self.metrics.retained.set(self.retained.len() as i64);
        restored
    }

    /// Puts back the persistent sessions the store kept, by client id, their clients away.
    /// A session whose client was connected when the server stopped without saying (a crash)
    /// lost its connection then: its expiry and will delays count from that moment.
    /// Unreadable and expired records are dropped (and deleted with the next commit);
    /// subscriptions the access rules now refuse are dropped. Returns how many came back.
    pub(crate) fn restore_sessions(
        &mut self,
        stored: Vec<(String, Vec<u8>)>,
        start: WallClock,
        now: Timestamp,
    ) -> usize {
        let mut restored = 0;
        for (client, bytes) in stored {
            let client = ByteStr::from(client);
            self.session_changed(&client);
            if let Some(changed) = &mut self.changed {
                changed.stored.insert(client.clone());
            }
            let Some(record) = SessionRecord::decode(&bytes) else {
                tracing::warn!(site = %self.site, %client, "an unreadable stored session is dropped");
                continue;
            };
            let lost_at = record.expires_at.is_none().then_some(record.saved_at);
            let expires_at = match record.expires_at {
                Some(at) => at,
                None => WallClock(
                    record
                        .saved_at
                        .0
                        .saturating_add(u64::from(record.expiry_interval) * 1000),
                ),
            };
            let expires_at = start.since(expires_at);
            if expires_at <= now {
                continue;
            }
            self.restore_session(client, record, expires_at, lost_at, start, now);
            restored += 1;
        }
        restored
    }

    fn restore_session(
        &mut self,
        client: ByteStr,
        record: SessionRecord,
        expires_at: Timestamp,
        lost_at: Option<WallClock>,
        start: WallClock,
        now: Timestamp,
    ) {
        let ctx = Context {
            site: self.site.clone(),
            user: record.user.map(ByteStr::from),
            client_id: Some(client.clone()),
        };
        let routing_id = ByteStr::from(record.routing_id);
        let mut session = Session::new(client.clone(), routing_id.clone(), ctx.clone());
        let will = |w: WillRecord| WillMessage {
            delay: w.delay,
            publish: w.publish,
        };
        session.expiry_interval = record.expiry_interval;
        session.expires_at = Some(expires_at);
        session.ended_cleanly = record.ended_cleanly;
        session.wills_scheduled = record.wills_scheduled;
        session.will = record.will.map(|w| Box::new(will(w)));
        session.extra_wills = record
            .extra_wills
            .into_iter()
            .map(|(id, w)| (ByteStr::from(id), will(w)))
            .collect();
        session.qos2_in = record.qos2_in.into_iter().collect();
        for (filter, options, id) in record.subscriptions {
            let Ok(pattern) = Pattern::parse(ByteStr::from(filter.as_str())) else {
                continue;
            };
            let Ok(options) = SubscriptionOptions::from_byte(options, ProtocolVersion::V5) else {
                continue;
            };
            let match_filter = pattern.filter().match_filter().to_owned();
            let checked = match self.acl.grant(&ctx, &match_filter, self).0 {
                Grant::Denied => continue,
                Grant::All => false,
                Grant::PerMessage => true,
            };
            let key = self.tree.insert(
                pattern,
                TreeEntry::Client(Subscriber {
                    client: client.clone(),
                    options,
                    id: SubscriptionId::new(id),
                    checked,
                }),
            );
            session
                .subscriptions
                .insert(ByteStr::from(filter), SubRecord { key });
        }
        let delivery = |d: DeliveryRecord| {
            let publisher = d.publisher.map(|(user, client_id)| Context {
                site: self.site.clone(),
                user: user.map(ByteStr::from),
                client_id: Some(ByteStr::from(client_id)),
            });
            let expires_at = d.expires_at.map(|at| start.since(at));
            Delivery {
                message: Message::restored(d.publish, publisher, expires_at, now),
                topic: d.topic.and_then(|t| TopicName::try_from(t).ok()),
                qos: d.qos,
                retain: d.retain,
                subscription_ids: d
                    .subscription_ids
                    .into_iter()
                    .filter_map(SubscriptionId::new)
                    .collect(),
                shared: false,
            }
        };
        let inflight = record
            .inflight
            .into_iter()
            .filter_map(|(id, released, d)| Some((PacketId::new(id)?, released, delivery(d))))
            .collect();
        let pending = record.pending.into_iter().map(delivery).collect();
        session.restore_queue(inflight, pending);
        let mut delayed: Vec<(Timestamp, WillMessage)> = record
            .delayed_wills
            .into_iter()
            .map(|(at, w)| (start.since(at), will(w)))
            .collect();
        if let Some(lost_at) = lost_at
            && !session.ended_cleanly
            && !session.wills_scheduled
        {
            // The crash ended the connection: its wills take the course of a lost one.
            let fire_at = |w: &WillMessage| {
                start.since(WallClock(
                    lost_at.0.saturating_add(u64::from(w.delay) * 1000),
                ))
            };
            let wills = session.will.take().map(|w| *w).into_iter();
            let extra = session.extra_wills.values().cloned();
            delayed.extend(wills.chain(extra).map(|w| (fire_at(&w), w)));
            session.wills_scheduled = true;
        }
        for (at, w) in delayed {
            self.next_seq += 1;
            self.delayed_wills
                .insert((at, self.next_seq), (ctx.clone(), w));
        }
        self.routes.insert(routing_id, client.clone());
        self.expiries.insert((expires_at, client.clone()));
        self.sessions.insert(client, Box::new(session));
        self.metrics.sessions.inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl::Acl;
    use crate::config::Limits;
    use crate::metrics::SiteMetrics;
    use pubzub_core::Publish;

    #[test]
    fn a_retained_message_that_expires_while_running_is_deleted_from_the_store() {
        let mut b = Broker::new(
            "s".into(),
            Limits::default(),
            SiteMetrics::default(),
            Acl::default(),
        );
        b.track_changes(false);
        let mut p = Publish::new(TopicName::try_from("t").unwrap(), "x");
        p.retain = true;
        p.properties.message_expiry_interval = Some(1);
        b.publish_as(&Context::server("s"), p, Timestamp(0))
            .unwrap();
        let first = b.take_changes(WallClock(0), Timestamp(0)).changes;
        assert!(
            matches!(&first[..], [(Kind::Retained, _, Some(_))]),
            "{first:?}"
        );
        b.tick(Timestamp(1500));
        let later = b.take_changes(WallClock(0), Timestamp(1500)).changes;
        assert_eq!(later, [(Kind::Retained, key("s", "t"), None)]);
    }
}
