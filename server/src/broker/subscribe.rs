//! SUBSCRIBE and UNSUBSCRIBE, and the retained messages a subscription asks for.

use std::sync::Arc;

use pubzub_core::{
    ByteStr, Packet, Pattern, ReasonCode, RetainHandling, SubAck, Subscribe, Timestamp, UnsubAck,
    Unsubscribe,
};

use super::{Broker, ConnId, Delivery, Message, Outgoing, Subscriber, TreeEntry, expand, session};
use crate::acl::{Action, Grant};

impl Broker {
    /// SUBSCRIBE: answers SUBACK, then sends the retained messages the options ask for.
    pub fn subscribe(
        &mut self,
        client_id: &ByteStr,
        conn: ConnId,
        sub: Subscribe,
        now: Timestamp,
    ) -> Result<(), ReasonCode> {
        let limits = self.limits.clone();
        self.session_changed(client_id);
        let Some(session) = self.linked(client_id, conn) else {
            return Ok(());
        };
        let ctx = session.ctx.clone();
        let mut codes = Vec::with_capacity(sub.filters.len());
        let mut retained_for = Vec::new();
        let mut session_subs = std::mem::take(&mut session.subscriptions);
        for mut f in sub.filters {
            match expand::filter(&ctx, &f.filter) {
                Some(Ok(filter)) => f.filter = filter,
                Some(Err(_)) => {
                    codes.push(ReasonCode::TopicFilterInvalid);
                    continue;
                }
                None => {}
            }
            let shared = f.filter.shared().is_some();
            if shared && f.options.no_local {
                // [MQTT-3.8.3-4]
                self.sessions
                    .get_mut(client_id)
                    .expect("linked above")
                    .subscriptions = session_subs;
                return Err(ReasonCode::ProtocolError);
            }
            let match_filter = f.filter.match_filter();
            if match_filter.len() > limits.max_topic_length
                || match_filter.split('/').count() > limits.max_topic_levels
            {
                codes.push(ReasonCode::TopicFilterInvalid);
                continue;
            }
            let (grant, by) = self.acl.grant(&ctx, match_filter, self);
            let checked = match grant {
                Grant::Denied => {
                    self.log_refusal(&ctx, "subscribe", match_filter, by);
                    codes.push(ReasonCode::NotAuthorized);
                    continue;
                }
                Grant::All => false,
                Grant::PerMessage => true,
            };
            // An own copy: the decoded filter shares (and would pin) the receive buffer.
            let key_str = ByteStr::from(f.filter.as_str());
            let existed = session_subs.remove(&key_str);
            if existed.is_none() && session_subs.len() >= limits.max_subscriptions_per_client {
                codes.push(ReasonCode::QuotaExceeded);
                continue;
            }
            if let Some(old) = &existed {
                self.tree.remove(old.key);
            }
            let Ok(pattern) = Pattern::parse(key_str.clone()) else {
                codes.push(ReasonCode::TopicFilterInvalid);
                continue;
            };
            let key = self.tree.insert(
                pattern,
                TreeEntry::Client(Subscriber {
                    client: client_id.clone(),
                    options: f.options,
                    id: sub.properties.subscription_identifier,
                    checked,
                }),
            );
            session_subs.insert(key_str, session::SubRecord { key });
            codes.push(ReasonCode::granted(f.options.qos));
            let wants_retained = match f.options.retain_handling {
                RetainHandling::SendAtSubscribe => true,
                RetainHandling::SendIfNew => existed.is_none(),
                RetainHandling::DoNotSend => false,
            };
            // Shared subscriptions get no retained messages [MQTT-3.8.4-?].
            if wants_retained && !shared {
                retained_for.push((f.filter.match_filter().to_owned(), f.options, checked));
            }
        }
        let session = self.sessions.get_mut(client_id).expect("linked above");
        session.subscriptions = session_subs;
        if let Some(link) = &session.link {
            link.send(Outgoing::packet(Packet::SubAck(SubAck {
                packet_id: sub.packet_id,
                properties: Default::default(),
                reason_codes: codes,
            })));
        }
        for (filter, options, checked) in retained_for {
            let messages: Vec<Arc<Message>> = self
                .retained
                .matching(&filter, now)
                .into_iter()
                // A wildcard subscription may reach retained topics the client may not see.
                .filter(|r| {
                    if checked {
                        self.acl.receives(&ctx, &r.topic, self)
                    } else {
                        self.allowed(&ctx, Action::Subscribe, &r.topic)
                    }
                })
                .map(|r| r.message.clone())
                .collect();
            for message in messages {
                let delivery = Delivery {
                    qos: message.publish.qos.min(options.qos),
                    retain: true,
                    subscription_ids: sub.properties.subscription_identifier.into_iter().collect(),
                    topic: None,
                    message,
                    shared: false,
                };
                self.deliver(client_id, delivery, now);
            }
        }
        Ok(())
    }

    pub fn unsubscribe(&mut self, client_id: &ByteStr, conn: ConnId, unsub: Unsubscribe) {
        self.session_changed(client_id);
        let Some(session) = self.linked(client_id, conn) else {
            return;
        };
        let ctx = session.ctx.clone();
        let mut removed = Vec::new();
        let codes = unsub
            .filters
            .iter()
            .map(|f| match expand::filter(&ctx, f) {
                Some(Ok(expanded)) => expanded,
                _ => f.clone(),
            })
            .map(|f| match session.subscriptions.remove(f.as_str()) {
                Some(rec) => {
                    removed.push(rec.key);
                    ReasonCode::Success
                }
                None => ReasonCode::NoSubscriptionExisted,
            })
            .collect();
        if let Some(link) = &session.link {
            link.send(Outgoing::packet(Packet::UnsubAck(UnsubAck {
                packet_id: unsub.packet_id,
                properties: Default::default(),
                reason_codes: codes,
            })));
        }
        for key in removed {
            self.tree.remove(key);
        }
    }
}
