//! Routing one message: its subscribers (merged per client), shared-subscription turns, and
//! `bridge/<id>/X` addressing.

use std::collections::BTreeMap;
use std::sync::Arc;

use pubzub_core::{ByteStr, Timestamp, TopicName};

use super::{Broker, ClientMap, Delivery, Message, Subscriber, TreeEntry};

impl Broker {
    /// Delivers `message` to every session it reaches; returns how many.
    pub(super) fn route(&mut self, message: &Arc<Message>, now: Timestamp) -> usize {
        let topic = message.publish.topic.as_str();
        // One delivery per client: the highest QoS of its matching subscriptions and all
        // their identifiers [MQTT-3.3.4-3, -5].
        // The last message's lists, emptied: their room is kept for the next one (and no new
        // index is made, whose random keys would cost a call to the system's generator).
        let mut targets = self.targets.take().unwrap_or_default();
        let mut groups: BTreeMap<(ByteStr, ByteStr), Vec<Subscriber>> = BTreeMap::new();
        let mut handlers = Vec::new();
        self.tree.for_each_match(topic, |m| {
            let sub = match m.value {
                TreeEntry::Client(sub) => sub,
                TreeEntry::Handler(h) => {
                    handlers.push((h.clone(), m.bindings()));
                    return;
                }
            };
            if !self.may_receive(sub, topic) {
                return;
            }
            if let Some(group) = m.pattern.share_group() {
                groups
                    .entry((
                        ByteStr::from(group),
                        m.pattern.filter().as_byte_str().clone(),
                    ))
                    .or_default()
                    .push(sub.clone());
                return;
            }
            if sub.options.no_local
                && message
                    .publisher
                    .as_ref()
                    .and_then(|p| p.client_id.as_ref())
                    == Some(&sub.client)
            {
                return;
            }
            targets.add(message, sub);
        });
        for (key, members) in groups {
            let cursor = self.share_cursor.entry(key).or_insert(0);
            let online = |s: &Subscriber| {
                self.sessions
                    .get(&s.client)
                    .is_some_and(|s| s.is_connected())
            };
            // Round robin over the members online, or over all when none is.
            let candidates: Vec<&Subscriber> = if members.iter().any(online) {
                members.iter().filter(|s| online(s)).collect()
            } else {
                members.iter().collect()
            };
            let chosen = candidates[*cursor % candidates.len()];
            *cursor = cursor.wrapping_add(1);
            targets.add(message, chosen);
        }
        if let Some((client, rest)) = self.bridge_target(topic)
            && !targets.contains(&client)
        {
            // `bridge/<id>/X` reaches client <id> as `X`, without a subscription (a client
            // that subscribed to its bridge topics gets them as subscribed, once).
            targets.list.push((
                client,
                Delivery {
                    message: message.clone(),
                    topic: Some(rest),
                    qos: message.publish.qos,
                    retain: false,
                    subscription_ids: Vec::new(),
                    shared: false,
                },
            ));
        }
        let delivered = targets.list.len() + handlers.len();
        for (handler, bindings) in handlers {
            handler.deliver(message, bindings);
        }
        let shared = targets.list.len() > 1;
        for (client, mut delivery) in targets.list.drain(..) {
            delivery.shared = shared;
            self.deliver(&client, delivery, now);
        }
        targets.index.clear();
        self.targets = Some(targets);
        delivered
    }

    /// The client and the topic left for `bridge/<clientId or routingId>/X`.
    fn bridge_target(&self, topic: &str) -> Option<(ByteStr, TopicName)> {
        let rest = topic.strip_prefix("bridge/")?;
        let (id, rest) = rest.split_once('/')?;
        let client = self.client_for(id)?;
        let rest = TopicName::try_from(rest).ok()?;
        Some((client.clone(), rest))
    }

    pub(super) fn deliver(&mut self, client: &ByteStr, delivery: Delivery, now: Timestamp) {
        let Some(session) = self.sessions.get_mut(client) else {
            return;
        };
        // Only a persistent session keeps its queue in the store: marking every clean one
        // too cost a hash insert and a reference count per delivery.
        let persistent = session.expiry_interval > 0;
        session.deliver(
            delivery,
            now,
            self.limits.max_queued_messages,
            self.limits.max_outgoing_qos0,
            &self.metrics,
        );
        if persistent {
            self.session_changed(client);
        }
    }
}

/// Targets up to which a client's earlier delivery is found by a scan of the list; the index
/// is built past it. Most messages reach a few clients, and hashing each cost more than the
/// scan.
const SCANNED_TARGETS: usize = 8;

/// The deliveries of one message, one per client.
#[derive(Default)]
pub(super) struct Targets {
    list: Vec<(ByteStr, Delivery)>,
    /// Client to position in `list`, once the list is longer than [`SCANNED_TARGETS`].
    index: ClientMap<usize>,
}

impl Targets {
    fn position(&self, client: &ByteStr) -> Option<usize> {
        if self.list.len() <= SCANNED_TARGETS {
            self.list.iter().position(|(c, _)| c == client)
        } else {
            self.index.get(client).copied()
        }
    }

    fn contains(&self, client: &ByteStr) -> bool {
        self.position(client).is_some()
    }

    /// Adds `sub` as a target of `message`, merging with the client's other subscriptions.
    fn add(&mut self, message: &Arc<Message>, sub: &Subscriber) {
        let qos = message.publish.qos.min(sub.options.qos);
        let retain = sub.options.retain_as_published && message.publish.retain;
        if let Some(i) = self.position(&sub.client) {
            let d = &mut self.list[i].1;
            d.qos = d.qos.max(qos);
            d.retain |= retain;
            d.subscription_ids.extend(sub.id);
            return;
        }
        if self.list.len() == SCANNED_TARGETS {
            // Into the emptied index of earlier messages, which keeps its room.
            let indexed = self.list.iter().enumerate();
            self.index.extend(indexed.map(|(i, (c, _))| (c.clone(), i)));
        }
        if self.list.len() >= SCANNED_TARGETS {
            self.index.insert(sub.client.clone(), self.list.len());
        }
        self.list.push((
            sub.client.clone(),
            Delivery {
                message: message.clone(),
                topic: None,
                qos,
                retain,
                subscription_ids: sub.id.into_iter().collect(),
                shared: false,
            },
        ));
    }
}

#[cfg(test)]
mod tests {
    use pubzub_core::{Publish, QoS, SubscriptionId, SubscriptionOptions};

    use super::*;

    fn sub(client: &str, qos: QoS, id: u32) -> Subscriber {
        Subscriber {
            client: ByteStr::from(client),
            options: SubscriptionOptions {
                qos,
                ..SubscriptionOptions::default()
            },
            id: SubscriptionId::new(id),
            checked: false,
        }
    }

    /// Past [`SCANNED_TARGETS`] clients the look-up switches from a scan to the index: both
    /// must merge a client's subscriptions into one delivery.
    #[test]
    fn one_delivery_per_client_below_and_above_the_scan() {
        let mut publish = Publish::new(TopicName::try_from("a/b").unwrap(), &b"x"[..]);
        publish.qos = QoS::ExactlyOnce;
        publish.packet_id = pubzub_core::PacketId::new(1);
        let message = Message::new(publish, None, Timestamp::default());
        for clients in [3, SCANNED_TARGETS as u32, SCANNED_TARGETS as u32 + 1, 40] {
            let mut targets = Targets::default();
            for round in 0..2 {
                for c in 0..clients {
                    let qos = if round == 0 {
                        QoS::AtMostOnce
                    } else {
                        QoS::AtLeastOnce
                    };
                    targets.add(&message, &sub(&format!("c{c}"), qos, round * 100 + c + 1));
                }
            }
            assert_eq!(targets.list.len(), clients as usize);
            for (c, (client, delivery)) in (0..).zip(&targets.list) {
                assert_eq!(client.as_str(), format!("c{c}"));
                assert_eq!(delivery.qos, QoS::AtLeastOnce, "the higher QoS of the two");
                let ids: Vec<u32> = delivery.subscription_ids.iter().map(|i| i.get()).collect();
                assert_eq!(ids, [c + 1, c + 101], "{clients} clients");
                assert!(targets.contains(client));
            }
            assert!(!targets.contains(&ByteStr::from("nobody")));
        }
    }
}
