//! Routing one message: its subscribers (merged per client), shared-subscription turns, and
//! `bridge/<id>/X` addressing.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use pubzub_core::{ByteStr, Timestamp, TopicName};

use super::{Broker, Delivery, Message, Subscriber, TreeEntry};

impl Broker {
    /// Delivers `message` to every session it reaches; returns how many.
    pub(super) fn route(&mut self, message: &Arc<Message>, now: Timestamp) -> usize {
        let topic = message.publish.topic.as_str();
        // One delivery per client: the highest QoS of its matching subscriptions and all
        // their identifiers [MQTT-3.3.4-3, -5].
        let mut targets = Targets::default();
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
            && !targets.index.contains_key(&client)
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
                },
            ));
        }
        let delivered = targets.list.len() + handlers.len();
        for (handler, bindings) in handlers {
            handler.deliver(message, bindings);
        }
        for (client, delivery) in targets.list {
            self.deliver(&client, delivery, now);
        }
        delivered
    }

    /// The client and the topic left for `bridge/<clientId or routingId>/X`.
    fn bridge_target(&self, topic: &str) -> Option<(ByteStr, TopicName)> {
        let rest = topic.strip_prefix("bridge/")?;
        let (id, rest) = rest.split_once('/')?;
        let client = self.routes.get(id)?;
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

/// The deliveries of one message, one per client.
#[derive(Default)]
struct Targets {
    list: Vec<(ByteStr, Delivery)>,
    index: HashMap<ByteStr, usize>,
}

impl Targets {
    /// Adds `sub` as a target of `message`, merging with the client's other subscriptions.
    fn add(&mut self, message: &Arc<Message>, sub: &Subscriber) {
        let qos = message.publish.qos.min(sub.options.qos);
        let retain = sub.options.retain_as_published && message.publish.retain;
        if let Some(&i) = self.index.get(&sub.client) {
            let d = &mut self.list[i].1;
            d.qos = d.qos.max(qos);
            d.retain |= retain;
            d.subscription_ids.extend(sub.id);
            return;
        }
        self.index.insert(sub.client.clone(), self.list.len());
        self.list.push((
            sub.client.clone(),
            Delivery {
                message: message.clone(),
                topic: None,
                qos,
                retain,
                subscription_ids: sub.id.into_iter().collect(),
            },
        ));
    }
}
