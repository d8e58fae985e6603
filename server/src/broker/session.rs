//! One client's session: its subscriptions, its outgoing QoS 1/2 window, the messages waiting
//! for that window or for the client to come back, and its wills.

use std::collections::{BTreeMap, HashSet, VecDeque};

use pubzub_core::{
    Ack, ByteStr, Packet, PacketId, Publish, QoS, ReasonCode, SortedVecMap, SubscriptionKey,
    Timestamp,
};

use super::message::{Delivery, Outgoing};
use crate::acl::Context;
use crate::metrics::SiteMetrics;
use crate::outbox::OutboxTx;

/// Identifies one network connection; a session outlives many.
pub type ConnId = u64;

/// The broker's handle on a connected client's writer.
#[derive(Debug)]
pub struct Link {
    pub(crate) conn: ConnId,
    /// The writer's queue, which also counts the QoS 0 deliveries not yet written: past the
    /// limit they are dropped for this subscriber.
    pub(crate) tx: OutboxTx,
    /// The client's Maximum Packet Size.
    pub(crate) max_packet_size: usize,
    /// The client's Receive Maximum: our QoS 1/2 window towards it.
    pub(crate) receive_maximum: usize,
}

impl Link {
    pub(crate) fn send(&self, out: Outgoing) {
        self.tx.send(out);
    }
}

/// One subscription as the session remembers it.
#[derive(Debug, Clone)]
pub struct SubRecord {
    /// Its entry in the tree, which holds its options and identifier.
    pub(crate) key: SubscriptionKey,
}

/// A QoS 1/2 message sent and not yet fully acknowledged.
#[derive(Debug)]
struct InFlight {
    packet_id: PacketId,
    delivery: Delivery,
    /// QoS 2 after PUBREC: only PUBREL/PUBCOMP remain.
    released: bool,
}

/// The CONNECT will or a `$client/.../will/<id>` will.
#[derive(Debug, Clone)]
pub struct WillMessage {
    pub(crate) publish: Publish,
    pub(crate) delay: u32,
}

#[derive(Debug)]
pub struct Session {
    pub(crate) client_id: ByteStr,
    pub(crate) routing_id: ByteStr,
    /// Site, user and client id: what the access rules and Rust handlers see.
    pub(crate) ctx: Context,
    pub(crate) link: Option<Link>,
    /// By filter. Most sessions hold one or a few: a sorted vector holds one in 48 bytes,
    /// where a hash map's smallest table took about 230.
    pub(crate) subscriptions: SortedVecMap<ByteStr, SubRecord>,
    /// Seconds the session outlives its connection.
    pub(crate) expiry_interval: u32,
    /// Set while the client is away.
    pub(crate) expires_at: Option<Timestamp>,
    /// Boxed: most sessions have none, and a message inline would double a session's size.
    pub(crate) will: Option<Box<WillMessage>>,
    /// Wills registered on `$client/<id>/will/<willId>`, by will id.
    pub(crate) extra_wills: BTreeMap<ByteStr, WillMessage>,
    /// The last connection ended with DISCONNECT 0x00: no will fires when the session ends.
    pub(crate) ended_cleanly: bool,
    /// The last connection ended uncleanly and its wills have fired or wait for their delay:
    /// the end of the session does not fire them again. The `$client` wills stay registered
    /// for the connections to come (a resuming client does not register them again).
    pub(crate) wills_scheduled: bool,
    inflight: VecDeque<InFlight>,
    pending: VecDeque<Delivery>,
    /// QoS 2 packet ids received and not yet released by PUBREL.
    pub qos2_in: HashSet<u16>,
    next_packet_id: u16,
}

/// What became of a delivery handed to a session.
#[derive(Debug, PartialEq, Eq)]
pub enum Queued {
    Sent,
    Waiting,
    /// Dropped (queue full, too large for the client, expired); counted by the caller.
    Dropped,
}

impl Session {
    pub(crate) fn new(client_id: ByteStr, routing_id: ByteStr, ctx: Context) -> Session {
        Session {
            client_id,
            routing_id,
            ctx,
            link: None,
            subscriptions: SortedVecMap::new(),
            expiry_interval: 0,
            expires_at: None,
            will: None,
            extra_wills: BTreeMap::new(),
            ended_cleanly: false,
            wills_scheduled: false,
            inflight: VecDeque::new(),
            pending: VecDeque::new(),
            qos2_in: HashSet::new(),
            next_packet_id: 1,
        }
    }

    pub(crate) fn is_connected(&self) -> bool {
        self.link.is_some()
    }

    /// Hands `delivery` to the client now if its window allows, else queues it (bounded:
    /// the oldest QoS 0 message goes first, then the oldest of any QoS).
    pub(crate) fn deliver(
        &mut self,
        delivery: Delivery,
        now: Timestamp,
        max_queued: usize,
        max_qos0: usize,
        metrics: &SiteMetrics,
    ) -> Queued {
        if let Some(link) = &self.link {
            if delivery.max_wire_len() > link.max_packet_size {
                // [MQTT-3.1.2-25]: never send a packet larger than the client accepts.
                metrics.dropped.inc();
                return Queued::Dropped;
            }
            if delivery.qos == QoS::AtMostOnce {
                let expiry = delivery.message.remaining_expiry(now);
                let out = Outgoing::Publish {
                    delivery,
                    packet_id: None,
                    dup: false,
                    expiry,
                };
                if !link.tx.send_qos0(out, max_qos0) {
                    metrics.dropped.inc();
                    return Queued::Dropped;
                }
                return Queued::Sent;
            }
            if self.pending.is_empty() && self.inflight.len() < link.receive_maximum {
                self.send_inflight(delivery, now);
                return Queued::Sent;
            }
        }
        if self.pending.len() >= max_queued {
            let victim = self
                .pending
                .iter()
                .position(|d| d.qos == QoS::AtMostOnce)
                .unwrap_or(0);
            self.pending.remove(victim);
            metrics.dropped.inc();
        }
        self.pending.push_back(delivery);
        Queued::Waiting
    }

    fn next_packet_id(&mut self) -> PacketId {
        loop {
            let id = self.next_packet_id;
            self.next_packet_id = self.next_packet_id.checked_add(1).unwrap_or(1);
            if let Some(pid) = PacketId::new(id)
                && !self.inflight.iter().any(|f| f.packet_id == pid)
            {
                return pid;
            }
        }
    }

    fn send_inflight(&mut self, delivery: Delivery, now: Timestamp) {
        let packet_id = self.next_packet_id();
        if let Some(link) = &self.link {
            link.send(Outgoing::Publish {
                delivery: delivery.clone(),
                packet_id: Some(packet_id),
                dup: false,
                expiry: delivery.message.remaining_expiry(now),
            });
        }
        self.inflight.push_back(InFlight {
            packet_id,
            delivery,
            released: false,
        });
    }

    /// Sends queued messages while the client's window has room; drops expired ones.
    pub(crate) fn flush(&mut self, now: Timestamp, max_qos0: usize, metrics: &SiteMetrics) {
        let Some(link) = &self.link else { return };
        let window = link.receive_maximum;
        let max_packet_size = link.max_packet_size;
        while self.inflight.len() < window {
            let Some(delivery) = self.pending.pop_front() else {
                break;
            };
            if delivery.message.is_expired(now) || delivery.max_wire_len() > max_packet_size {
                metrics.dropped.inc();
                continue;
            }
            if delivery.qos == QoS::AtMostOnce {
                self.deliver(delivery, now, usize::MAX, max_qos0, metrics);
            } else {
                self.send_inflight(delivery, now);
            }
        }
    }

    /// The queue as the store keeps it: the in-flight messages (packet id, whether PUBREC
    /// came) and the waiting ones, in order.
    #[allow(clippy::type_complexity)]
    pub(crate) fn queue(
        &self,
    ) -> (
        impl Iterator<Item = (PacketId, bool, &Delivery)>,
        impl Iterator<Item = &Delivery>,
    ) {
        let inflight = self
            .inflight
            .iter()
            .map(|f| (f.packet_id, f.released, &f.delivery));
        (inflight, self.pending.iter())
    }

    /// Puts back a queue the store kept: in flight ones are sent again with DUP when the
    /// client resumes the session [MQTT-4.4.0-1].
    pub(crate) fn restore_queue(
        &mut self,
        inflight: Vec<(PacketId, bool, Delivery)>,
        pending: Vec<Delivery>,
    ) {
        self.inflight = inflight
            .into_iter()
            .map(|(packet_id, released, delivery)| InFlight {
                packet_id,
                delivery,
                released,
            })
            .collect();
        self.pending = pending.into();
    }

    /// Drops queued messages whose expiry has passed; returns how many.
    pub(crate) fn expire_pending(&mut self, now: Timestamp) -> usize {
        let before = self.pending.len();
        self.pending.retain(|d| !d.message.is_expired(now));
        before - self.pending.len()
    }

    /// On resume: resend every unacknowledged message in order, with DUP set, and PUBREL for
    /// the released ones [MQTT-4.4.0-1].
    pub(crate) fn resend_inflight(&mut self, now: Timestamp) {
        let Some(link) = &self.link else { return };
        for f in &self.inflight {
            if f.released {
                link.send(Outgoing::packet(Packet::PubRel(Ack::new(f.packet_id))));
            } else {
                link.send(Outgoing::Publish {
                    delivery: f.delivery.clone(),
                    packet_id: Some(f.packet_id),
                    dup: true,
                    expiry: f.delivery.message.remaining_expiry(now),
                });
            }
        }
    }

    /// PUBACK (QoS 1) or PUBCOMP (QoS 2): the message is done. False for an unknown id.
    pub(crate) fn complete(&mut self, packet_id: PacketId) -> bool {
        match self.inflight.iter().position(|f| f.packet_id == packet_id) {
            Some(i) => {
                self.inflight.remove(i);
                true
            }
            None => false,
        }
    }

    /// Whether `kind` (PUBACK 4, PUBREC 5, PUBCOMP 7) is the acknowledgement the in-flight
    /// message `packet_id` waits for: PUBACK for QoS 1, PUBREC then PUBCOMP for QoS 2. One
    /// for no message in flight is not wrong (a late duplicate).
    pub(crate) fn expects(&self, kind: u8, packet_id: PacketId) -> bool {
        let Some(f) = self.inflight.iter().find(|f| f.packet_id == packet_id) else {
            return true;
        };
        match (f.delivery.qos, kind) {
            (QoS::AtLeastOnce, 4) => true,
            (QoS::ExactlyOnce, 5) => !f.released,
            (QoS::ExactlyOnce, 7) => f.released,
            _ => false,
        }
    }

    /// PUBREC: answer PUBREL. A PUBREC with an error code ends the exchange [MQTT-4.3.3].
    pub(crate) fn received(&mut self, ack: &Ack) {
        let Some(i) = self
            .inflight
            .iter()
            .position(|f| f.packet_id == ack.packet_id)
        else {
            if let Some(link) = &self.link {
                let mut rel = Ack::new(ack.packet_id);
                rel.reason_code = ReasonCode::PacketIdentifierNotFound;
                link.send(Outgoing::packet(Packet::PubRel(rel)));
            }
            return;
        };
        if ack.reason_code.is_error() {
            self.inflight.remove(i);
            return;
        }
        self.inflight[i].released = true;
        if let Some(link) = &self.link {
            link.send(Outgoing::packet(Packet::PubRel(Ack::new(ack.packet_id))));
        }
    }
}
