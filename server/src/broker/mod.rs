//! The broker proper: sessions, subscriptions, routing, retained messages, wills and expiry.
//!
//! It is synchronous and owns no sockets and no clock: connections hand it decoded packets and
//! the current time, and it answers by queueing [`Outgoing`] items on the connections' writers.
//! The caller holds it behind a mutex and calls [`Broker::tick`] a few times a second.

pub mod message;
pub mod session;
pub mod will;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use pubzub_core::{
    Ack, ByteStr, ConnAck, Connect, Packet, Pattern, ProtocolVersion, Publish, QoS, ReasonCode,
    RetainHandling, RetainedStore, SubAck, Subscribe, SubscriptionId, SubscriptionOptions,
    SubscriptionTree, Timestamp, TopicName, UnsubAck, Unsubscribe,
};
use rand::Rng;
use rand::distr::Alphanumeric;
use tokio::sync::mpsc::UnboundedSender;

use crate::config::Limits;
use crate::metrics::Metrics;
pub use message::{Delivery, Message, Outgoing};
pub use session::{ConnId, Link, Queued, Session, WillMessage};

/// The user property that carries a client's routing id on every CONNACK.
pub const ROUTING_ID_PROPERTY: &str = "cotonic-routing-id";

/// A subscription as the tree stores it.
#[derive(Debug, Clone)]
struct Subscriber {
    client: ByteStr,
    options: SubscriptionOptions,
    id: Option<SubscriptionId>,
}

/// How a connection ended, as the connection saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// DISCONNECT 0x00: no will.
    Normal,
    /// DISCONNECT 0x04 ("disconnect with will message"): wills fire now.
    WithWill,
    /// Lost connection, keep-alive timeout, protocol error: wills fire per their delay.
    Lost,
}

/// A connection the broker accepted.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub conn: ConnId,
    pub client_id: ByteStr,
    /// The keep alive the client must keep (seconds, 0 = none).
    pub keep_alive: u16,
    /// The Session Expiry Interval granted: DISCONNECT may not raise it from 0.
    pub session_expiry: u32,
}

pub struct Broker {
    limits: Limits,
    metrics: Arc<Metrics>,
    sessions: HashMap<ByteStr, Session>,
    /// Client ids and routing ids to client ids, for `bridge/<id>/...` topics.
    routes: HashMap<ByteStr, ByteStr>,
    tree: SubscriptionTree<Subscriber>,
    retained: RetainedStore<Arc<Message>>,
    /// Round-robin position per shared subscription (`group`, `filter`).
    share_cursor: HashMap<(ByteStr, ByteStr), usize>,
    delayed_wills: BTreeMap<(Timestamp, u64), (ByteStr, WillMessage)>,
    expiries: BTreeSet<(Timestamp, ByteStr)>,
    connected: usize,
    next_queue_sweep: Timestamp,
    next_conn: ConnId,
    next_seq: u64,
}

fn random_id() -> ByteStr {
    let id: String = rand::rng()
        .sample_iter(Alphanumeric)
        .take(20)
        .map(char::from)
        .collect();
    ByteStr::from(id)
}

impl Broker {
    pub fn new(limits: Limits, metrics: Arc<Metrics>) -> Broker {
        Broker {
            limits,
            metrics,
            sessions: HashMap::new(),
            routes: HashMap::new(),
            tree: SubscriptionTree::new(),
            retained: RetainedStore::new(),
            share_cursor: HashMap::new(),
            delayed_wills: BTreeMap::new(),
            expiries: BTreeSet::new(),
            connected: 0,
            next_queue_sweep: Timestamp(0),
            next_conn: 1,
            next_seq: 0,
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn session(&self, client_id: &str) -> Option<&Session> {
        self.sessions.get(client_id)
    }

    /// Handles CONNECT: answers CONNACK on `tx` (also when refusing) and binds the session.
    pub fn connect(
        &mut self,
        connect: Connect,
        tx: UnboundedSender<Outgoing>,
        qos0_queued: Arc<AtomicUsize>,
        now: Timestamp,
    ) -> Result<Accepted, ReasonCode> {
        let version = connect.protocol;
        let refuse = |code: ReasonCode| {
            let ack = ConnAck {
                reason_code: code,
                ..ConnAck::default()
            };
            let _ = tx.send(Outgoing::Packet(Packet::ConnAck(ack)));
            // No DISCONNECT after a refusing CONNACK [MQTT-3.2.2-7].
            let _ = tx.send(Outgoing::Close(None));
            Err(code)
        };
        if self.connected >= self.limits.max_connections {
            Metrics::inc(&self.metrics.refused_connections);
            return refuse(ReasonCode::QuotaExceeded);
        }
        if connect.properties.authentication_method.is_some() {
            // Enhanced authentication is not offered.
            Metrics::inc(&self.metrics.refused_connections);
            return refuse(ReasonCode::BadAuthenticationMethod);
        }
        let mut props = pubzub_core::ConnAckProperties::default();
        let client_id = if connect.client_id.is_empty() {
            if !version.is_v5() && !connect.clean_start {
                // [MQTT-3.1.3-8]
                Metrics::inc(&self.metrics.refused_connections);
                return refuse(ReasonCode::ClientIdentifierNotValid);
            }
            let id = loop {
                let id = random_id();
                if !self.sessions.contains_key(&id) && !self.routes.contains_key(&id) {
                    break id;
                }
            };
            props.assigned_client_identifier = Some(id.clone());
            id
        } else {
            connect.client_id.clone()
        };

        let expiry = if version.is_v5() {
            connect.properties.session_expiry_interval.unwrap_or(0)
        } else if connect.clean_start {
            0
        } else {
            u32::MAX
        };
        let granted_expiry = expiry.min(self.limits.max_session_expiry);
        if version.is_v5() && granted_expiry != expiry {
            props.session_expiry_interval = Some(granted_expiry);
        }

        let max_keep_alive = self.limits.max_keep_alive;
        let keep_alive = if max_keep_alive > 0
            && (connect.keep_alive == 0 || connect.keep_alive > max_keep_alive)
            && version.is_v5()
        {
            props.server_keep_alive = Some(max_keep_alive);
            max_keep_alive
        } else {
            connect.keep_alive
        };

        // A second connection with this client id takes the session over [MQTT-3.1.4-3].
        let mut session_present = false;
        if let Some(mut old) = self.sessions.remove(&client_id) {
            let had_link = old.link.take().inspect(|link| {
                link.send(Outgoing::Close(Some(ReasonCode::SessionTakenOver)));
            });
            if had_link.is_some() {
                self.connected -= 1;
            }
            self.unschedule(&mut old);
            if connect.clean_start {
                if had_link.is_some() {
                    old.ended_cleanly = false;
                }
                self.end_session(old, now);
            } else {
                // The connection is back within the will delay: the CONNECT will does not
                // fire, unless it had no delay and the old connection was still open.
                if had_link.is_some()
                    && let Some(will) = old.will.take_if(|w| w.delay == 0)
                {
                    self.publish_will(&old.client_id, will.publish, now);
                }
                session_present = true;
                self.sessions.insert(client_id.clone(), old);
            }
        }
        if !session_present {
            let routing_id = loop {
                let id = random_id();
                if !self.routes.contains_key(&id) && !self.sessions.contains_key(&id) {
                    break id;
                }
            };
            self.routes.insert(client_id.clone(), client_id.clone());
            self.routes.insert(routing_id.clone(), client_id.clone());
            self.sessions.insert(
                client_id.clone(),
                Session::new(client_id.clone(), routing_id),
            );
            self.metrics.sessions.fetch_add(1, Relaxed);
        }

        let conn = self.next_conn;
        self.next_conn += 1;
        let session = self
            .sessions
            .get_mut(&client_id)
            .expect("inserted or kept above");
        session.expiry_interval = granted_expiry;
        session.ended_cleanly = false;
        session.will = connect.will.map(|w| WillMessage {
            delay: w.properties.will_delay_interval.unwrap_or(0),
            publish: will_publish(w),
        });
        let receive_maximum = connect
            .properties
            .receive_maximum
            .map_or(usize::from(u16::MAX), |n| usize::from(n.get()));
        let max_packet_size = connect
            .properties
            .maximum_packet_size
            .map_or(usize::MAX, |n| n.get() as usize);
        session.link = Some(Link {
            conn,
            tx,
            qos0_queued,
            version,
            max_packet_size,
            receive_maximum,
        });
        self.connected += 1;

        if version.is_v5() {
            props.receive_maximum = std::num::NonZeroU16::new(self.limits.receive_maximum);
            props.maximum_packet_size = std::num::NonZeroU32::new(self.limits.max_packet_size);
            props.topic_alias_maximum = Some(self.limits.topic_alias_maximum);
            props.retain_available = Some(true);
            props.wildcard_subscription_available = Some(true);
            props.subscription_identifiers_available = Some(true);
            props.shared_subscription_available = Some(true);
            props.user_properties.push((
                ByteStr::from_static(ROUTING_ID_PROPERTY),
                session.routing_id.clone(),
            ));
        }
        let ack = ConnAck {
            session_present,
            reason_code: ReasonCode::Success,
            properties: props,
        };
        if let Some(link) = &session.link {
            link.send(Outgoing::Packet(Packet::ConnAck(ack)));
        }
        if session_present {
            session.resend_inflight(now);
            session.flush(now, self.limits.max_outgoing_qos0, &self.metrics);
        }
        Ok(Accepted {
            conn,
            client_id,
            keep_alive,
            session_expiry: granted_expiry,
        })
    }

    /// Removes a session's timers (its expiry and a delayed will): its client is back.
    fn unschedule(&mut self, session: &mut Session) {
        if let Some(at) = session.expires_at.take() {
            self.expiries.remove(&(at, session.client_id.clone()));
        }
        self.delayed_wills
            .retain(|_, (client, _)| *client != session.client_id);
    }

    /// The session bound to `conn`, if it still is (a takeover unbinds it).
    fn linked(&mut self, client_id: &str, conn: ConnId) -> Option<&mut Session> {
        self.sessions
            .get_mut(client_id)
            .filter(|s| s.link.as_ref().is_some_and(|l| l.conn == conn))
    }

    /// A PUBLISH from a connected client, its topic alias already resolved.
    pub fn publish(
        &mut self,
        client_id: &ByteStr,
        conn: ConnId,
        publish: Publish,
        now: Timestamp,
    ) -> Result<(), ReasonCode> {
        Metrics::inc(&self.metrics.messages_in);
        let qos = publish.qos;
        let packet_id = publish.packet_id;
        let max_qos2 = usize::from(self.limits.receive_maximum);
        let Some(session) = self.linked(client_id, conn) else {
            return Ok(());
        };
        if qos == QoS::ExactlyOnce
            && let Some(id) = packet_id
        {
            if session.qos2_in.contains(&id.get()) {
                // A resend of a message we have: acknowledge, do not deliver twice.
                if let Some(link) = &session.link {
                    link.send(Outgoing::Packet(Packet::PubRec(Ack::new(id))));
                }
                return Ok(());
            }
            if session.qos2_in.len() >= max_qos2 {
                return Err(ReasonCode::ReceiveMaximumExceeded);
            }
            session.qos2_in.insert(id.get());
        }

        let reason = self.accept_publish(client_id, publish, now);
        let Some(session) = self.linked(client_id, conn) else {
            return Ok(());
        };
        if let (Some(id), Some(link)) = (packet_id, &session.link) {
            let mut ack = Ack::new(id);
            ack.reason_code = reason;
            if qos == QoS::ExactlyOnce && reason.is_error() {
                // A refused QoS 2 message is over: no PUBREL will come for it.
                session.qos2_in.remove(&id.get());
            }
            link.send(Outgoing::Packet(if qos == QoS::AtLeastOnce {
                Packet::PubAck(ack)
            } else {
                Packet::PubRec(ack)
            }));
        }
        Ok(())
    }

    /// Checks, stores and routes a client's message; returns the reason for its PUBACK/PUBREC.
    fn accept_publish(
        &mut self,
        client_id: &ByteStr,
        publish: Publish,
        now: Timestamp,
    ) -> ReasonCode {
        if let Some(code) = self.check_topic(&publish.topic) {
            Metrics::inc(&self.metrics.dropped);
            return code;
        }
        if publish.topic.starts_with('$') {
            return self.control_publish(client_id, &publish);
        }
        let message = Message::new(publish, Some(client_id.clone()), now);
        if message.publish.retain {
            self.retain(&message);
        }
        if self.route(&message, now) == 0 {
            ReasonCode::NoMatchingSubscribers
        } else {
            ReasonCode::Success
        }
    }

    fn check_topic(&self, topic: &str) -> Option<ReasonCode> {
        let too_long = topic.len() > self.limits.max_topic_length;
        let too_deep = topic.split('/').count() > self.limits.max_topic_levels;
        (too_long || too_deep).then_some(ReasonCode::TopicNameInvalid)
    }

    /// `$client/<ownClientId>/will/<willId>`: register (or, empty, remove) a will. Any other
    /// `$` topic is reserved for the server.
    fn control_publish(&mut self, client_id: &ByteStr, publish: &Publish) -> ReasonCode {
        let mut levels = publish.topic.splitn(4, '/');
        let (Some("$client"), Some(owner), Some("will"), Some(will_id)) =
            (levels.next(), levels.next(), levels.next(), levels.next())
        else {
            return ReasonCode::NotAuthorized;
        };
        if owner != client_id.as_str() {
            return ReasonCode::NotAuthorized;
        }
        let Some(session) = self.sessions.get_mut(client_id) else {
            return ReasonCode::UnspecifiedError;
        };
        let will_id = ByteStr::from(will_id);
        if publish.payload.is_empty() {
            session.extra_wills.remove(&will_id);
            return ReasonCode::Success;
        }
        match will::parse(&publish.payload) {
            Ok(w) => {
                session.extra_wills.insert(will_id, w);
                ReasonCode::Success
            }
            Err(e) => {
                tracing::debug!(client = %client_id, "refused will: {e}");
                ReasonCode::PayloadFormatInvalid
            }
        }
    }

    fn retain(&mut self, message: &Arc<Message>) {
        let topic = message.publish.topic.clone();
        if message.publish.payload.is_empty() {
            self.retained.clear(&topic);
        } else {
            self.retained
                .set(topic, message.clone(), message.expires_at);
        }
        self.metrics
            .retained
            .store(self.retained.len() as i64, Relaxed);
    }

    /// Delivers `message` to every session it reaches; returns how many.
    fn route(&mut self, message: &Arc<Message>, now: Timestamp) -> usize {
        let topic = message.publish.topic.as_str();
        // One delivery per client: the highest QoS of its matching subscriptions and all
        // their identifiers [MQTT-3.3.4-3, -5].
        let mut targets = Targets::default();
        let mut groups: BTreeMap<(ByteStr, ByteStr), Vec<Subscriber>> = BTreeMap::new();
        self.tree.for_each_match(topic, |m| {
            let sub = m.value;
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
            if sub.options.no_local && message.publisher.as_ref() == Some(&sub.client) {
                return;
            }
            targets.add(message, sub);
        });
        for (key, members) in groups {
            let cursor = self.share_cursor.entry(key).or_insert(0);
            let online = |s: &Subscriber| {
                self.sessions
                    .get(&s.client)
                    .is_some_and(Session::is_connected)
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
        if let Some((client, rest)) = self.bridge_target(topic) {
            // `bridge/<id>/X` reaches client <id> as `X`, without a subscription.
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
        let delivered = targets.list.len();
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

    fn deliver(&mut self, client: &ByteStr, delivery: Delivery, now: Timestamp) {
        let Some(session) = self.sessions.get_mut(client) else {
            return;
        };
        session.deliver(
            delivery,
            now,
            self.limits.max_queued_messages,
            self.limits.max_outgoing_qos0,
            &self.metrics,
        );
    }

    /// SUBSCRIBE: answers SUBACK, then sends the retained messages the options ask for.
    pub fn subscribe(
        &mut self,
        client_id: &ByteStr,
        conn: ConnId,
        sub: Subscribe,
        now: Timestamp,
    ) -> Result<(), ReasonCode> {
        let limits = self.limits.clone();
        let Some(session) = self.linked(client_id, conn) else {
            return Ok(());
        };
        let mut codes = Vec::with_capacity(sub.filters.len());
        let mut retained_for = Vec::new();
        let mut session_subs = std::mem::take(&mut session.subscriptions);
        for f in sub.filters {
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
            let key_str = f.filter.as_byte_str().clone();
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
                Subscriber {
                    client: client_id.clone(),
                    options: f.options,
                    id: sub.properties.subscription_identifier,
                },
            );
            session_subs.insert(
                key_str,
                session::SubRecord {
                    key,
                    options: f.options,
                    id: sub.properties.subscription_identifier,
                },
            );
            codes.push(granted(f.options.qos));
            let wants_retained = match f.options.retain_handling {
                RetainHandling::SendAtSubscribe => true,
                RetainHandling::SendIfNew => existed.is_none(),
                RetainHandling::DoNotSend => false,
            };
            // Shared subscriptions get no retained messages [MQTT-3.8.4-?].
            if wants_retained && !shared {
                retained_for.push((f.filter.match_filter().to_owned(), f.options));
            }
        }
        let session = self.sessions.get_mut(client_id).expect("linked above");
        session.subscriptions = session_subs;
        if let Some(link) = &session.link {
            link.send(Outgoing::Packet(Packet::SubAck(SubAck {
                packet_id: sub.packet_id,
                properties: Default::default(),
                reason_codes: codes,
            })));
        }
        for (filter, options) in retained_for {
            let messages: Vec<Arc<Message>> = self
                .retained
                .matching(&filter, now)
                .into_iter()
                .map(|r| r.message.clone())
                .collect();
            for message in messages {
                let delivery = Delivery {
                    qos: message.publish.qos.min(options.qos),
                    retain: true,
                    subscription_ids: sub.properties.subscription_identifier.into_iter().collect(),
                    topic: None,
                    message,
                };
                self.deliver(client_id, delivery, now);
            }
        }
        Ok(())
    }

    pub fn unsubscribe(&mut self, client_id: &ByteStr, conn: ConnId, unsub: Unsubscribe) {
        let Some(session) = self.linked(client_id, conn) else {
            return;
        };
        let mut removed = Vec::new();
        let codes = unsub
            .filters
            .iter()
            .map(|f| match session.subscriptions.remove(f.as_str()) {
                Some(rec) => {
                    removed.push(rec.key);
                    ReasonCode::Success
                }
                None => ReasonCode::NoSubscriptionExisted,
            })
            .collect();
        if let Some(link) = &session.link {
            link.send(Outgoing::Packet(Packet::UnsubAck(UnsubAck {
                packet_id: unsub.packet_id,
                properties: Default::default(),
                reason_codes: codes,
            })));
        }
        for key in removed {
            self.tree.remove(key);
        }
    }

    /// PUBACK, PUBREC, PUBREL or PUBCOMP from the client.
    pub fn ack(&mut self, client_id: &ByteStr, conn: ConnId, packet: Packet, now: Timestamp) {
        let max_qos0 = self.limits.max_outgoing_qos0;
        let metrics = self.metrics.clone();
        let Some(session) = self.linked(client_id, conn) else {
            return;
        };
        match packet {
            Packet::PubAck(ack) | Packet::PubComp(ack) if session.complete(ack.packet_id) => {
                session.flush(now, max_qos0, &metrics);
            }
            Packet::PubRec(ack) => {
                session.received(&ack);
                if ack.reason_code.is_error() {
                    session.flush(now, max_qos0, &metrics);
                }
            }
            Packet::PubRel(rel) => {
                let mut comp = Ack::new(rel.packet_id);
                if !session.qos2_in.remove(&rel.packet_id.get()) {
                    comp.reason_code = ReasonCode::PacketIdentifierNotFound;
                }
                if let Some(link) = &session.link {
                    link.send(Outgoing::Packet(Packet::PubComp(comp)));
                }
            }
            _ => {}
        }
    }

    /// The connection `conn` of `client_id` ended. `expiry` is a Session Expiry Interval the
    /// client sent in DISCONNECT.
    pub fn disconnected(
        &mut self,
        client_id: &ByteStr,
        conn: ConnId,
        ending: Ending,
        expiry: Option<u32>,
        now: Timestamp,
    ) {
        let max_expiry = self.limits.max_session_expiry;
        if self.linked(client_id, conn).is_none() {
            return;
        }
        let mut session = self.sessions.remove(client_id).expect("linked above");
        session.link = None;
        self.connected -= 1;
        if let Some(e) = expiry {
            session.expiry_interval = e.min(max_expiry);
        }
        match ending {
            Ending::Normal => {
                session.will = None;
                session.ended_cleanly = true;
            }
            Ending::WithWill => {
                if let Some(w) = session.will.take() {
                    self.schedule_will(&session, w, now);
                }
                for (_, w) in std::mem::take(&mut session.extra_wills) {
                    self.publish_will(&session.client_id, w.publish, now);
                }
            }
            Ending::Lost => {
                if let Some(w) = session.will.take() {
                    self.schedule_will(&session, w, now);
                }
            }
        }
        if session.expiry_interval == 0 {
            self.end_session(session, now);
        } else {
            let at = now.after_secs(session.expiry_interval);
            session.expires_at = Some(at);
            self.expiries.insert((at, session.client_id.clone()));
            self.sessions.insert(session.client_id.clone(), session);
        }
    }

    /// A will fires now, or after its delay if the session lives that long [MQTT-3.1.3-9].
    fn schedule_will(&mut self, session: &Session, will: WillMessage, now: Timestamp) {
        if will.delay == 0 || session.expiry_interval == 0 {
            self.publish_will(&session.client_id, will.publish, now);
        } else {
            let at = now.after_secs(will.delay.min(session.expiry_interval));
            self.next_seq += 1;
            self.delayed_wills
                .insert((at, self.next_seq), (session.client_id.clone(), will));
        }
    }

    fn publish_will(&mut self, client_id: &ByteStr, publish: Publish, now: Timestamp) {
        tracing::debug!(client = %client_id, topic = %publish.topic, "will fires");
        let message = Message::new(publish, Some(client_id.clone()), now);
        if message.publish.retain {
            self.retain(&message);
        }
        self.route(&message, now);
    }

    /// The session is over: remaining wills fire (unless it ended cleanly), subscriptions go.
    fn end_session(&mut self, mut session: Session, now: Timestamp) {
        self.delayed_wills
            .retain(|_, (client, _)| *client != session.client_id);
        if !session.ended_cleanly {
            if let Some(w) = session.will.take() {
                self.publish_will(&session.client_id, w.publish, now);
            }
            for (_, w) in std::mem::take(&mut session.extra_wills) {
                self.publish_will(&session.client_id, w.publish, now);
            }
        }
        for rec in session.subscriptions.values() {
            self.tree.remove(rec.key);
        }
        self.routes.remove(&session.client_id);
        self.routes.remove(&session.routing_id);
        self.metrics.sessions.fetch_sub(1, Relaxed);
    }

    /// Fires due wills, ends expired sessions, drops expired messages.
    pub fn tick(&mut self, now: Timestamp) {
        while let Some(entry) = self.delayed_wills.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let (client, will) = entry.remove();
            self.publish_will(&client, will.publish, now);
        }
        while let Some(first) = self.expiries.first() {
            if first.0 > now {
                break;
            }
            let (_, client) = self.expiries.pop_first().expect("checked above");
            if let Some(session) = self.sessions.remove(&client) {
                self.end_session(session, now);
            }
        }
        let expired = self.retained.expire(now);
        if expired > 0 {
            self.metrics
                .retained
                .store(self.retained.len() as i64, Relaxed);
        }
        if now >= self.next_queue_sweep {
            // Queued messages expire at any time; a scan a second drops them.
            self.next_queue_sweep = now.after_secs(1);
            let mut dropped = 0;
            for session in self.sessions.values_mut() {
                dropped += session.expire_pending(now);
            }
            Metrics::add(&self.metrics.dropped, dropped as u64);
        }
    }

    /// Server shutdown: every session's wills fire while everyone is still connected to hear
    /// them, then every client gets DISCONNECT 0x8B and its session ends.
    pub fn shutdown(&mut self, now: Timestamp) {
        let mut wills = Vec::new();
        for session in self.sessions.values_mut() {
            let client = session.client_id.clone();
            if session.is_connected() || !session.ended_cleanly {
                wills.extend(session.will.take().map(|w| (client.clone(), w)));
                let extra = std::mem::take(&mut session.extra_wills);
                wills.extend(extra.into_values().map(|w| (client.clone(), w)));
            }
        }
        let delayed = std::mem::take(&mut self.delayed_wills);
        wills.extend(delayed.into_values());
        for (client, will) in wills {
            self.publish_will(&client, will.publish, now);
        }
        let connected: Vec<(ByteStr, ConnId)> = self
            .sessions
            .values()
            .filter_map(|s| s.link.as_ref().map(|l| (s.client_id.clone(), l.conn)))
            .collect();
        for (client, conn) in connected {
            self.kick(&client, conn, ReasonCode::ServerShuttingDown);
            self.disconnected(&client, conn, Ending::Normal, Some(0), now);
        }
    }

    /// Sends DISCONNECT with `code` to a v5 client and closes its connection.
    pub fn kick(&mut self, client_id: &ByteStr, conn: ConnId, code: ReasonCode) {
        if let Some(link) = self.linked(client_id, conn).and_then(|s| s.link.as_ref()) {
            link.send(Outgoing::Close(Some(code)));
        }
    }

    pub fn version_of(&self, client_id: &str) -> Option<ProtocolVersion> {
        self.sessions
            .get(client_id)
            .and_then(|s| s.link.as_ref())
            .map(|l| l.version)
    }
}

fn granted(qos: QoS) -> ReasonCode {
    match qos {
        QoS::AtMostOnce => ReasonCode::GRANTED_QOS_0,
        QoS::AtLeastOnce => ReasonCode::GrantedQoS1,
        QoS::ExactlyOnce => ReasonCode::GrantedQoS2,
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

fn will_publish(w: pubzub_core::Will) -> Publish {
    let mut p = Publish::new(w.topic, w.payload);
    p.qos = w.qos;
    p.retain = w.retain;
    let wp = w.properties;
    p.properties.payload_format_indicator = wp.payload_format_indicator;
    p.properties.message_expiry_interval = wp.message_expiry_interval;
    p.properties.content_type = wp.content_type;
    p.properties.response_topic = wp.response_topic;
    p.properties.correlation_data = wp.correlation_data;
    p.properties.user_properties = wp.user_properties;
    p
}
