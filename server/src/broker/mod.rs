//! The broker proper: sessions, subscriptions, routing, retained messages, wills and expiry.
//!
//! It is synchronous and owns no sockets and no clock: connections hand it decoded packets and
//! the current time, and it answers by queueing [`Outgoing`] items on the connections' writers.
//! The caller holds it behind a mutex and calls [`Broker::tick`] a few times a second.

mod connect;
mod ending;
pub mod expand;
pub mod handler;
pub mod message;
mod persist;
mod reload;
mod route;
pub mod session;
mod subscribe;
pub mod will;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use pubzub_core::{
    Ack, ByteStr, Packet, Publish, QoS, ReasonCode, RetainedStore, SubscriptionId,
    SubscriptionOptions, SubscriptionTree, Timestamp,
};

use crate::acl::{AccessControl, Acl, Action, Context, Decider, Directory};
use crate::config::Limits;
use crate::metrics::SiteMetrics;
pub use message::{Delivery, Message, Outgoing};
pub(crate) use persist::HeldAck;
pub use session::{ConnId, Link, Session, WillMessage};

/// The user property that carries a client's routing id on every CONNACK.
pub const ROUTING_ID_PROPERTY: &str = "cotonic-routing-id";

/// A subscription as the tree stores it.
#[derive(Debug, Clone)]
struct Subscriber {
    client: ByteStr,
    options: SubscriptionOptions,
    id: Option<SubscriptionId>,
    /// Granted for part of what it matches: each message is checked before it is delivered.
    checked: bool,
}

/// What the subscription tree holds: a client's subscription or a Rust handler's.
#[derive(Debug, Clone)]
enum TreeEntry {
    Client(Subscriber),
    Handler(handler::HandlerTx),
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

/// A map keyed by client ids (or routing ids), which clients choose. aHash draws its keys at
/// random for each map, so that colliding ids cannot be computed ahead, and hashes a client
/// id in a fraction of SipHash's time: a fan-out looks up each subscriber's client twice.
pub(crate) type ClientMap<V> = HashMap<ByteStr, V, ahash::RandomState>;

pub struct Broker {
    site: Arc<str>,
    acl: Acl,
    limits: Limits,
    metrics: SiteMetrics,
    /// Boxed: a session is large and the map keeps spare slots.
    sessions: ClientMap<Box<Session>>,
    /// Routing ids to client ids, for `bridge/<id>/...` topics (a client id is found in
    /// `sessions`): see [`Broker::client_for`].
    routes: ClientMap<ByteStr>,
    tree: SubscriptionTree<TreeEntry>,
    retained: RetainedStore<Arc<Message>>,
    /// Round-robin position per shared subscription (`group`, `filter`).
    share_cursor: HashMap<(ByteStr, ByteStr), usize>,
    /// Wills waiting for their delay, with the context of the client that left them.
    delayed_wills: BTreeMap<(Timestamp, u64), (Context, WillMessage)>,
    expiries: BTreeSet<(Timestamp, ByteStr)>,
    next_queue_sweep: Timestamp,
    next_conn: ConnId,
    next_seq: u64,
    /// What changed for the store since it last looked; `None` without a store.
    changed: Option<persist::Changed>,
    /// Room for the deliveries of the message being routed, kept between messages.
    targets: Option<route::Targets>,
}

impl Broker {
    pub fn new(site: Arc<str>, limits: Limits, metrics: SiteMetrics, acl: Acl) -> Broker {
        Broker {
            site,
            acl,
            limits,
            metrics,
            sessions: ClientMap::default(),
            routes: ClientMap::default(),
            tree: SubscriptionTree::new(),
            retained: RetainedStore::new(),
            share_cursor: HashMap::new(),
            delayed_wills: BTreeMap::new(),
            expiries: BTreeSet::new(),
            next_queue_sweep: Timestamp(0),
            next_conn: 1,
            next_seq: 0,
            targets: None,
            changed: None,
        }
    }

    /// Installs custom access rules, consulted before the configured ones.
    pub fn set_access_control(&mut self, custom: Arc<dyn AccessControl>) {
        self.acl.set_custom(custom);
    }

    pub(super) fn allowed(&self, ctx: &Context, action: Action, topic: &str) -> bool {
        self.acl.allows(ctx, action, topic, self)
    }

    /// [`allowed`](Broker::allowed), and a refusal's log line (`what` was refused) naming
    /// the rule that decided it.
    pub(super) fn permitted(&self, ctx: &Context, action: Action, topic: &str, what: &str) -> bool {
        let verdict = self.acl.check(ctx, action, topic, self);
        if !verdict.allowed {
            self.log_refusal(ctx, what, topic, verdict.by);
        }
        verdict.allowed
    }

    pub(super) fn log_refusal(&self, ctx: &Context, what: &str, topic: &str, by: Decider) {
        tracing::info!(
            site = %self.site,
            client = ctx.client_id.as_deref().unwrap_or("(server)"),
            user = ctx.user.as_deref().unwrap_or("(anonymous)"),
            %topic,
            "{what} refused: {}",
            self.acl.explain(by)
        );
    }

    /// Whether `sub` may receive a message on `topic`: always, unless it was granted for part
    /// of its filter only.
    fn may_receive(&self, sub: &Subscriber, topic: &str) -> bool {
        !sub.checked
            || self
                .sessions
                .get(&sub.client)
                .is_some_and(|s| self.acl.receives(&s.ctx, topic, self))
    }

    /// The session bound to `conn`, if it still is (a takeover unbinds it).
    pub(super) fn linked(&mut self, client_id: &str, conn: ConnId) -> Option<&mut Session> {
        self.sessions
            .get_mut(client_id)
            .filter(|s| s.link.as_ref().is_some_and(|l| l.conn == conn))
            .map(|s| &mut **s)
    }

    /// A PUBLISH from a connected client, its topic alias already resolved.
    pub fn publish(
        &mut self,
        client_id: &ByteStr,
        conn: ConnId,
        publish: Publish,
        now: Timestamp,
    ) -> Result<(), ReasonCode> {
        self.metrics.messages_in.inc();
        let qos = publish.qos;
        let packet_id = publish.packet_id;
        let max_qos2 = usize::from(self.limits.receive_maximum);
        if qos == QoS::ExactlyOnce || publish.topic.starts_with('$') {
            // Its packet id, or a `$client` will, is part of the session.
            self.session_changed(client_id);
        }
        let Some(session) = self.linked(client_id, conn) else {
            return Ok(());
        };
        if qos == QoS::ExactlyOnce
            && let Some(id) = packet_id
        {
            if session.qos2_in.contains(&id.get()) {
                // A resend of a message we have: acknowledge, do not deliver twice.
                self.acknowledge(client_id, conn, Packet::PubRec(Ack::new(id)));
                return Ok(());
            }
            if session.qos2_in.len() >= max_qos2 {
                return Err(ReasonCode::ReceiveMaximumExceeded);
            }
            session.qos2_in.insert(id.get());
        }

        let reason = if packet_id.is_some() && self.store_failing() {
            // What the message would change cannot reach the disk (full?): refused, and not
            // routed, rather than acknowledged and lost; QoS 0 keeps flowing.
            self.metrics.dropped.inc();
            ReasonCode::QuotaExceeded
        } else {
            self.accept_publish(client_id, publish, now)
        };
        if packet_id.is_none() && reason == ReasonCode::TopicNameInvalid {
            // A QoS 0 message the server will not route (too long, too many levels) has no
            // acknowledgement to say so in: the connection ends with the reason code.
            return Err(reason);
        }
        let Some(session) = self.linked(client_id, conn) else {
            return Ok(());
        };
        if let Some(id) = packet_id {
            let mut ack = Ack::new(id);
            ack.reason_code = reason;
            if qos == QoS::ExactlyOnce && reason.is_error() {
                // A refused QoS 2 message is over: no PUBREL will come for it.
                session.qos2_in.remove(&id.get());
            }
            let packet = if qos == QoS::AtLeastOnce {
                Packet::PubAck(ack)
            } else {
                Packet::PubRec(ack)
            };
            self.acknowledge(client_id, conn, packet);
        }
        Ok(())
    }

    /// Expands, checks, stores and routes a client's message; returns the reason for its
    /// PUBACK/PUBREC.
    fn accept_publish(
        &mut self,
        client_id: &ByteStr,
        mut publish: Publish,
        now: Timestamp,
    ) -> ReasonCode {
        let Some(ctx) = self.sessions.get(client_id).map(|s| s.ctx.clone()) else {
            return ReasonCode::UnspecifiedError;
        };
        match expand::topic(&ctx, &publish.topic) {
            Some(Ok(topic)) => publish.topic = topic,
            Some(Err(_)) => return ReasonCode::TopicNameInvalid,
            None => {}
        }
        // A page that does not know its routing id yet names itself `~client` in a
        // response topic.
        if let Some(r) = &publish.properties.response_topic
            && let Some(Ok(expanded)) = expand::topic(&ctx, r)
        {
            publish.properties.response_topic = Some(expanded);
        }
        if let Some(code) = self.check_topic(&publish.topic) {
            self.metrics.dropped.inc();
            return code;
        }
        if !self.permitted(&ctx, Action::Publish, &publish.topic, "publish") {
            self.metrics.dropped.inc();
            return ReasonCode::NotAuthorized;
        }
        if publish.topic.starts_with("test/") {
            tracing::debug!(site = %self.site, topic = %publish.topic, bytes = publish.payload.len(), "publish on a test topic");
        }
        if publish.topic.starts_with('$') {
            return self.control_publish(&ctx, client_id, &publish);
        }
        let message = Message::new(publish, Some(ctx), now);
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
        let too_deep = topic.bytes().filter(|&b| b == b'/').count() >= self.limits.max_topic_levels;
        (too_long || too_deep).then_some(ReasonCode::TopicNameInvalid)
    }

    /// `$client/<ownClientId>/will/<willId>`: register (or, empty, remove) a will. Any other
    /// `$` topic is reserved for the server.
    fn control_publish(
        &mut self,
        ctx: &Context,
        client_id: &ByteStr,
        publish: &Publish,
    ) -> ReasonCode {
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
            Ok(mut w) => {
                if let Some(Ok(topic)) = expand::topic(ctx, &w.publish.topic) {
                    w.publish.topic = topic;
                }
                // Refused now, where the page hears it, rather than dropped when it fires.
                if !self.permitted(ctx, Action::Publish, &w.publish.topic, "will") {
                    return ReasonCode::NotAuthorized;
                }
                let max = self.limits.max_wills_per_client;
                let Some(session) = self.sessions.get_mut(client_id) else {
                    return ReasonCode::UnspecifiedError;
                };
                if !session.extra_wills.contains_key(&will_id) && session.extra_wills.len() >= max {
                    return ReasonCode::QuotaExceeded;
                }
                session.extra_wills.insert(will_id, w);
                ReasonCode::Success
            }
            Err(e) => {
                tracing::debug!(client = %client_id, "refused will: {e}");
                ReasonCode::PayloadFormatInvalid
            }
        }
    }

    pub(super) fn retain(&mut self, message: &Arc<Message>) {
        let topic = message.publish.topic.clone();
        self.retained_changed(&topic);
        if message.publish.payload.is_empty() {
            self.retained.clear(&topic);
        } else {
            self.retained
                .set(topic, message.detached(), message.expires_at);
        }
        self.metrics.retained.set(self.retained.len() as i64);
    }

    /// A PUBACK, PUBREC, PUBREL or PUBCOMP from the client. The wrong acknowledgement for a
    /// message in flight (PUBCOMP for a QoS 1 delivery) is a protocol error: `Err(0x82)`.
    pub fn ack(
        &mut self,
        client_id: &ByteStr,
        conn: ConnId,
        packet: Packet,
        now: Timestamp,
    ) -> Result<(), ReasonCode> {
        let max_qos0 = self.limits.max_outgoing_qos0;
        let metrics = self.metrics.clone();
        let Some(session) = self.linked(client_id, conn) else {
            return Ok(());
        };
        // Its window is part of the stored record only if the session is persistent.
        let persistent = session.expiry_interval > 0;
        let expected = match &packet {
            Packet::PubAck(a) => session.expects(4, a.packet_id),
            Packet::PubRec(a) => session.expects(5, a.packet_id),
            Packet::PubComp(a) => session.expects(7, a.packet_id),
            _ => true,
        };
        if !expected {
            return Err(ReasonCode::ProtocolError);
        }
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
                    link.send(Outgoing::packet(Packet::PubComp(comp)));
                }
            }
            _ => {}
        }
        if persistent {
            self.session_changed(client_id);
        }
        Ok(())
    }

    /// Sends DISCONNECT with `code` to a v5 client and closes its connection.
    pub fn kick(&mut self, client_id: &ByteStr, conn: ConnId, code: ReasonCode) {
        if let Some(link) = self.linked(client_id, conn).and_then(|s| s.link.as_ref()) {
            link.send(Outgoing::Close(Some(code)));
        }
    }
}

impl Broker {
    /// The client a `bridge/<id>/...` topic names by its client id or its routing id.
    fn client_for(&self, id: &str) -> Option<&ByteStr> {
        match self.sessions.get_key_value(id) {
            Some((client, _)) => Some(client),
            None => self.routes.get(id),
        }
    }
}

impl Directory for Broker {
    fn user_of(&self, id: &str) -> Option<Option<ByteStr>> {
        let client = self.client_for(id)?;
        self.sessions.get(client).map(|s| s.ctx.user.clone())
    }

    fn is_same_client(&self, id: &str, client_id: &str) -> bool {
        self.client_for(id).is_some_and(|c| c.as_str() == client_id)
    }
}
