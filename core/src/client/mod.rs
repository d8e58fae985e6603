//! The MQTT v5 client session of a page's bridge, sans-IO.
//!
//! The host (the browser crate, or a test) owns the socket and the timers. It tells the
//! session what happened ([`ClientSession::on_open`], [`on_bytes`](ClientSession::on_bytes),
//! [`on_close`](ClientSession::on_close), [`on_timer`](ClientSession::on_timer)) and what the
//! page wants ([`publish`](ClientSession::publish), [`subscribe`](ClientSession::subscribe)...),
//! and takes back bytes to write ([`poll_transmit`](ClientSession::poll_transmit)) and events
//! ([`poll_event`](ClientSession::poll_event)).
//!
//! What it keeps:
//! - An outbox of publications in FIFO order. One packet is handed out at a time and only while
//!   the socket's send buffer is under the high-water mark; a QoS 1/2 message waits while the
//!   server's Receive Maximum is reached. While offline the outbox is bounded: QoS 0 messages
//!   go first. It survives reconnects in order.
//! - The QoS 1/2 messages in flight: resent with DUP on a resumed session, queued again in
//!   front of the outbox when the server lost the session.
//! - Subscriptions with reference counts (`subscriptions.rs`): SUBSCRIBE for the first user of
//!   a filter, UNSUBSCRIBE after the last, all of them again after a reconnect without
//!   session; each filter's SUBACK answer is an event.
//! - Topic aliases for topics sent again, within the server's Topic Alias Maximum.
//! - Keep alive: PINGREQ when idle, and a verdict when PINGRESP does not come.
//! - The receive buffer, for the life of a connection: a WebSocket message may end in the
//!   middle of a packet or hold several [MQTT-6.0.0-2].
//!
//! State changes only once a packet is committed: a publication too large for the server's
//! Maximum Packet Size fails alone, with no alias recorded and nothing else disturbed.

mod subscriptions;

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use crate::{
    Ack, ByteStr, ConnAck, Connect, DecodeError, Decoder, Disconnect, IncomingAliases,
    OutgoingAliases, Packet, PacketId, ProtocolVersion, Publish, QoS, ReasonCode, Subscribe,
    SubscribeFilter, SubscriptionOptions, Timestamp, TopicFilter, Unsubscribe, encode,
};
use subscriptions::{Added, Subscriptions};

/// How the session connects and how much it keeps.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Empty: the server assigns one (and the session keeps it for reconnects).
    pub client_id: ByteStr,
    pub username: Option<ByteStr>,
    pub password: Option<Bytes>,
    /// Seconds; the server may impose another in CONNACK.
    pub keep_alive: u16,
    /// Seconds the server keeps the session after the connection drops.
    pub session_expiry: u32,
    /// Publications kept while offline.
    pub max_offline: usize,
    /// Bytes in the socket's send buffer above which nothing more is handed out.
    pub high_water: usize,
    /// Put on every SUBSCRIBE, so that messages for this session's subscriptions carry it and
    /// messages addressed to the client itself (`bridge/<id>/...`) do not.
    pub subscription_id: Option<crate::SubscriptionId>,
    /// Topic aliases the server may use towards this client (its Topic Alias Maximum): a
    /// topic it sends again then costs two bytes instead of the whole name.
    pub topic_alias_maximum: u16,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            client_id: ByteStr::new(),
            username: None,
            password: None,
            keep_alive: 30,
            session_expiry: 300,
            max_offline: 1000,
            high_water: 64 * 1024,
            subscription_id: crate::SubscriptionId::new(1),
            topic_alias_maximum: 64,
        }
    }
}

/// Identifies one publication for the host (to settle its Promise).
pub type Token = u64;

/// What the session tells the host.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// CONNACK accepted the connection.
    Connected {
        session_present: bool,
        client_id: ByteStr,
        /// The user property `cotonic-routing-id`, if the server sent one.
        routing_id: Option<ByteStr>,
    },
    /// CONNACK refused the connection.
    Refused(ReasonCode),
    /// The server sent DISCONNECT (the host should close the socket).
    ServerDisconnect(ReasonCode),
    /// A message from the server (already acknowledged as its QoS asks).
    Message(Publish),
    /// A QoS 1/2 publication was acknowledged (`Ok`) or refused with a reason code; a QoS 0
    /// one was written.
    Published {
        token: Token,
        result: Result<(), ReasonCode>,
    },
    /// The outbox was full while offline; this publication was dropped.
    Dropped { token: Token },
    /// [`ClientSession::cancel_publications`] removed this publication unsent or
    /// unacknowledged.
    Cancelled { token: Token },
    /// The server's answer for one filter: the granted QoS, or the refusal (0x87 not
    /// authorized...), after which the filter is gone with all its users. A user added to a
    /// filter already granted gets this at once.
    Subscribed {
        filter: ByteStr,
        result: Result<QoS, ReasonCode>,
    },
}

/// What the host should do after a timer fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerAction {
    Nothing,
    /// No PINGRESP in time: close the socket and reconnect.
    CloseTransport,
}

#[derive(Debug)]
struct Pending {
    token: Token,
    publish: Publish,
}

#[derive(Debug)]
struct InFlight {
    token: Token,
    publish: Publish,
    /// QoS 2 after PUBREC: only PUBCOMP is missing.
    released: bool,
}

/// The limits the server announced in CONNACK.
#[derive(Debug, Clone, Copy)]
struct ServerLimits {
    receive_maximum: usize,
    topic_alias_maximum: u16,
    keep_alive: u16,
    max_packet_size: usize,
}

pub struct ClientSession {
    options: ClientOptions,
    decoder: Decoder,
    /// `Some` between CONNACK and the connection's end.
    connected: Option<ServerLimits>,
    /// The socket is open (CONNECT sent), CONNACK may not have come yet.
    open: bool,
    /// Packets that go before the outbox: CONNECT, acks, (UN)SUBSCRIBE, PINGREQ.
    control: VecDeque<Packet>,
    outbox: VecDeque<Pending>,
    inflight: VecDeque<InFlight>,
    /// QoS 2 packet ids received and not yet released.
    qos2_in: Vec<u16>,
    subs: Subscriptions,
    /// Bytes received on this connection and not yet a whole packet.
    rx: BytesMut,
    /// Topic aliases given out on this connection.
    aliases: OutgoingAliases,
    /// Topic aliases the server set on this connection.
    incoming: IncomingAliases,
    next_packet_id: u16,
    last_sent: Timestamp,
    ping_sent: Option<Timestamp>,
    events: VecDeque<Event>,
    dropped: u64,
}

impl ClientSession {
    pub fn new(options: ClientOptions) -> ClientSession {
        let mut decoder = Decoder::default();
        decoder.set_version(ProtocolVersion::V5);
        ClientSession {
            options,
            decoder,
            connected: None,
            open: false,
            control: VecDeque::new(),
            outbox: VecDeque::new(),
            inflight: VecDeque::new(),
            qos2_in: Vec::new(),
            subs: Subscriptions::default(),
            rx: BytesMut::new(),
            aliases: OutgoingAliases::new(),
            incoming: IncomingAliases::new(),
            next_packet_id: 1,
            last_sent: Timestamp(0),
            ping_sent: None,
            events: VecDeque::new(),
            dropped: 0,
        }
    }

    /// Options for the connections to come; what the session holds (subscriptions, queued
    /// publications) stays. A page may subscribe and publish before it connects.
    pub fn set_options(&mut self, options: ClientOptions) {
        self.options = options;
    }

    pub fn is_connected(&self) -> bool {
        self.connected.is_some()
    }

    /// The client id: as configured, or as assigned by the server.
    pub fn client_id(&self) -> &ByteStr {
        &self.options.client_id
    }

    /// Publications waiting in the outbox (not yet sent).
    pub fn queued(&self) -> usize {
        self.outbox.len()
    }

    /// Publications dropped because the outbox was full while offline.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The socket opened: CONNECT goes first. A session that has connected before asks to
    /// resume (clean start off) with the client id it has.
    pub fn on_open(&mut self, now: Timestamp) {
        self.open = true;
        self.connected = None;
        self.ping_sent = None;
        self.last_sent = now;
        self.aliases.clear();
        self.incoming.clear();
        self.decoder = Decoder::default();
        self.decoder.set_version(ProtocolVersion::V5);
        self.rx.clear();
        let mut connect = Connect {
            protocol: ProtocolVersion::V5,
            clean_start: self.options.client_id.is_empty(),
            keep_alive: self.options.keep_alive,
            client_id: self.options.client_id.clone(),
            will: None,
            username: self.options.username.clone(),
            password: self.options.password.clone(),
            properties: Default::default(),
        };
        connect.properties.session_expiry_interval = Some(self.options.session_expiry);
        connect.properties.topic_alias_maximum =
            Some(self.options.topic_alias_maximum).filter(|&m| m > 0);
        self.control.clear();
        self.control.push_back(Packet::Connect(Box::new(connect)));
    }

    /// The socket closed (or failed). Everything unacknowledged stays for the next connection.
    pub fn on_close(&mut self) {
        self.open = false;
        self.connected = None;
        self.control.clear();
        self.ping_sent = None;
        self.rx.clear();
        self.subs.connection_lost();
        self.enforce_offline_bound();
    }

    /// Bytes from the socket, as they came: part of a packet, or several. The rest of a
    /// packet is kept until its next bytes arrive. An error means the server sent something
    /// malformed: close.
    pub fn on_bytes(&mut self, bytes: &[u8], now: Timestamp) -> Result<(), DecodeError> {
        self.rx.extend_from_slice(bytes);
        loop {
            match self.decoder.decode(&mut self.rx) {
                Ok(Some(packet)) => {
                    if let Err(e) = self.on_packet(packet, now) {
                        self.rx.clear();
                        return Err(e);
                    }
                }
                Ok(None) => return Ok(()),
                Err(e) => {
                    self.rx.clear();
                    return Err(e);
                }
            }
        }
    }

    /// One packet from the server; an error (a topic alias it may not use) ends the connection.
    fn on_packet(&mut self, packet: Packet, now: Timestamp) -> Result<(), DecodeError> {
        match packet {
            Packet::ConnAck(ack) => self.on_connack(ack, now),
            Packet::Publish(mut p) => {
                let max = self.options.topic_alias_maximum;
                self.incoming.resolve(&mut p, max)?;
                self.on_publish(p);
            }
            Packet::PubAck(ack) => self.settle(ack.packet_id, ack.reason_code),
            Packet::PubRec(ack) => {
                if ack.reason_code.is_error() {
                    self.settle(ack.packet_id, ack.reason_code);
                } else if let Some(f) = self
                    .inflight
                    .iter_mut()
                    .find(|f| f.publish.packet_id == Some(ack.packet_id))
                {
                    f.released = true;
                    self.control
                        .push_back(Packet::PubRel(Ack::new(ack.packet_id)));
                }
            }
            Packet::PubComp(ack) => self.settle(ack.packet_id, ack.reason_code),
            Packet::PubRel(rel) => {
                self.qos2_in.retain(|id| *id != rel.packet_id.get());
                self.control
                    .push_back(Packet::PubComp(Ack::new(rel.packet_id)));
            }
            Packet::PingResp => self.ping_sent = None,
            Packet::Disconnect(d) => {
                self.events
                    .push_back(Event::ServerDisconnect(d.reason_code));
            }
            Packet::SubAck(ack) => {
                for a in self.subs.acknowledged(ack.packet_id, &ack.reason_codes) {
                    self.events.push_back(Event::Subscribed {
                        filter: a.filter,
                        result: a.result,
                    });
                }
            }
            // UNSUBACK needs nothing; others cannot come from a server.
            _ => {}
        }
        Ok(())
    }

    fn on_connack(&mut self, ack: ConnAck, now: Timestamp) {
        if ack.reason_code.is_error() {
            self.events.push_back(Event::Refused(ack.reason_code));
            return;
        }
        let p = &ack.properties;
        if let Some(id) = &p.assigned_client_identifier {
            self.options.client_id = id.clone();
        }
        let routing_id = p
            .user_properties
            .iter()
            .find(|(k, _)| k.as_str() == "cotonic-routing-id")
            .map(|(_, v)| v.clone());
        self.connected = Some(ServerLimits {
            receive_maximum: p
                .receive_maximum
                .map_or(usize::from(u16::MAX), |n| usize::from(n.get())),
            topic_alias_maximum: p.topic_alias_maximum.unwrap_or(0),
            keep_alive: p.server_keep_alive.unwrap_or(self.options.keep_alive),
            max_packet_size: p
                .maximum_packet_size
                .map_or(usize::MAX, |n| n.get() as usize),
        });
        self.last_sent = now;
        if ack.session_present {
            // [MQTT-4.4.0-1]: resend what is unacknowledged, in order, with DUP.
            for f in &mut self.inflight {
                if f.released {
                    if let Some(id) = f.publish.packet_id {
                        self.control.push_back(Packet::PubRel(Ack::new(id)));
                    }
                } else {
                    let mut p = f.publish.clone();
                    p.dup = true;
                    p.properties.topic_alias = None;
                    self.control.push_back(Packet::Publish(p));
                }
            }
        } else {
            // The server forgot us: in-flight messages are sent again as new, first; the
            // subscriptions are made again.
            while let Some(f) = self.inflight.pop_back() {
                let mut p = f.publish;
                p.dup = false;
                p.packet_id = None;
                self.outbox.push_front(Pending {
                    token: f.token,
                    publish: p,
                });
            }
            self.qos2_in.clear();
        }
        let (subscribe, unsubscribe) = self.subs.on_connack(ack.session_present);
        let filters: Vec<(TopicFilter, QoS)> = subscribe
            .into_iter()
            .filter_map(|(f, q)| Some((TopicFilter::try_from(f).ok()?, q)))
            .collect();
        for chunk in filters.chunks(64) {
            self.send_subscribe(chunk);
        }
        for filter in unsubscribe {
            if let Ok(filter) = TopicFilter::try_from(filter) {
                self.send_unsubscribe(filter);
            }
        }
        self.events.push_back(Event::Connected {
            session_present: ack.session_present,
            client_id: self.options.client_id.clone(),
            routing_id,
        });
    }

    fn on_publish(&mut self, mut p: Publish) {
        let Some(id) = p.packet_id else {
            self.events.push_back(Event::Message(p));
            return;
        };
        match p.qos {
            QoS::AtMostOnce => {}
            QoS::AtLeastOnce => {
                self.control.push_back(Packet::PubAck(Ack::new(id)));
            }
            QoS::ExactlyOnce => {
                self.control.push_back(Packet::PubRec(Ack::new(id)));
                if self.qos2_in.contains(&id.get()) {
                    return; // a resend of a message already delivered
                }
                self.qos2_in.push(id.get());
            }
        }
        p.dup = false;
        self.events.push_back(Event::Message(p));
    }

    /// A QoS 1/2 exchange ended (PUBACK, PUBCOMP, or a refusal).
    fn settle(&mut self, id: PacketId, reason: ReasonCode) {
        if let Some(i) = self
            .inflight
            .iter()
            .position(|f| f.publish.packet_id == Some(id))
        {
            let f = self.inflight.remove(i).expect("position is in range");
            let result = if reason.is_error() {
                Err(reason)
            } else {
                Ok(())
            };
            self.events.push_back(Event::Published {
                token: f.token,
                result,
            });
        }
    }

    fn subscribe_properties(&self) -> crate::SubscribeProperties {
        crate::SubscribeProperties {
            subscription_identifier: self.options.subscription_id,
            ..Default::default()
        }
    }

    fn next_id(&mut self) -> PacketId {
        loop {
            let id = self.next_packet_id;
            self.next_packet_id = self.next_packet_id.checked_add(1).unwrap_or(1);
            if let Some(pid) = PacketId::new(id)
                && !self
                    .inflight
                    .iter()
                    .any(|f| f.publish.packet_id == Some(pid))
            {
                return pid;
            }
        }
    }

    /// Queues a publication. Its `Published` event comes when the server acknowledged it
    /// (QoS 1/2) or when it was written (QoS 0).
    pub fn publish(&mut self, token: Token, mut publish: Publish) {
        publish.packet_id = None;
        publish.dup = false;
        self.outbox.push_back(Pending { token, publish });
        if !self.is_connected() {
            self.enforce_offline_bound();
        }
    }

    /// While offline the outbox keeps at most `max_offline` messages: the oldest QoS 0 one
    /// goes first; with none left, the newest is dropped.
    fn enforce_offline_bound(&mut self) {
        while self.outbox.len() > self.options.max_offline {
            let victim = self
                .outbox
                .iter()
                .position(|p| p.publish.qos == QoS::AtMostOnce)
                .unwrap_or(self.outbox.len() - 1);
            if let Some(p) = self.outbox.remove(victim) {
                self.dropped += 1;
                self.events.push_back(Event::Dropped { token: p.token });
            }
        }
    }

    /// Adds a user of `filter`; SUBSCRIBE goes out for the first one (or when a user asks
    /// for a higher QoS than the filter has). The answer comes as [`Event::Subscribed`], at
    /// once when the server granted the filter before.
    pub fn subscribe(&mut self, filter: TopicFilter, qos: QoS) {
        match self.subs.add(&filter, qos) {
            Added::Subscribe(qos) if self.is_connected() => self.send_subscribe(&[(filter, qos)]),
            Added::Granted(qos) => self.events.push_back(Event::Subscribed {
                filter: filter.as_byte_str().clone(),
                result: Ok(qos),
            }),
            // Offline: the CONNACK sends it; or its SUBACK is on the way.
            Added::Subscribe(_) | Added::Waiting => {}
        }
    }

    /// Removes a user of `filter`; UNSUBSCRIBE goes out after the last one (on a resumed
    /// session when that was offline).
    pub fn unsubscribe(&mut self, filter: &TopicFilter) {
        let connected = self.is_connected();
        if self.subs.remove(filter.as_str(), connected) && connected {
            self.send_unsubscribe(filter.clone());
        }
    }

    fn send_subscribe(&mut self, filters: &[(TopicFilter, QoS)]) {
        let packet_id = self.next_id();
        self.subs.sent(
            packet_id,
            filters
                .iter()
                .map(|(f, _)| f.as_byte_str().clone())
                .collect(),
        );
        self.control.push_back(Packet::Subscribe(Subscribe {
            packet_id,
            properties: self.subscribe_properties(),
            filters: filters
                .iter()
                .map(|(filter, qos)| SubscribeFilter {
                    filter: filter.clone(),
                    options: SubscriptionOptions {
                        qos: *qos,
                        ..Default::default()
                    },
                })
                .collect(),
        }));
    }

    fn send_unsubscribe(&mut self, filter: TopicFilter) {
        let packet_id = self.next_id();
        self.control.push_back(Packet::Unsubscribe(Unsubscribe {
            packet_id,
            properties: Default::default(),
            filters: vec![filter],
        }));
    }

    /// The filters subscribed on the server, with their number of local users.
    pub fn subscriptions(&self) -> impl Iterator<Item = (&str, usize)> {
        self.subs.iter()
    }

    /// Gives up every publication not yet acknowledged, queued or in flight: each gets
    /// [`Event::Cancelled`]. For a host that stops connecting (`disconnect()`).
    pub fn cancel_publications(&mut self) {
        let queued = self.outbox.drain(..).map(|p| p.token);
        let in_flight = self.inflight.drain(..).map(|f| f.token);
        for token in queued.chain(in_flight).collect::<Vec<_>>() {
            self.events.push_back(Event::Cancelled { token });
        }
    }

    /// The next bytes to write, if any may go now: control packets first, then the outbox,
    /// one packet at a time, while `buffered` (the socket's unsent bytes) is under the
    /// high-water mark.
    #[must_use]
    pub fn poll_transmit(&mut self, buffered: usize, now: Timestamp) -> Option<Bytes> {
        if !self.open || buffered >= self.options.high_water {
            return None;
        }
        if let Some(packet) = self.control.pop_front() {
            return self.encode(&packet, now);
        }
        let limits = self.connected?;
        loop {
            let head = self.outbox.front()?;
            if head.publish.qos != QoS::AtMostOnce && self.inflight.len() >= limits.receive_maximum
            {
                return None; // the server's window is full; order is kept
            }
            let Pending { token, mut publish } = self.outbox.pop_front()?;
            if publish.qos != QoS::AtMostOnce {
                publish.packet_id = Some(self.next_id());
            }
            let mut wire = publish.clone();
            let new_alias = self.aliases.apply(&mut wire, limits.topic_alias_maximum);
            let bytes = match encode_within(&Packet::Publish(wire), limits.max_packet_size) {
                Ok(bytes) => bytes,
                Err(reason) => {
                    // Refused here rather than by a closed connection; nothing of it is kept.
                    self.events.push_back(Event::Published {
                        token,
                        result: Err(reason),
                    });
                    continue;
                }
            };
            if let Some(alias) = new_alias {
                self.aliases.commit(alias);
            }
            self.last_sent = now;
            if publish.qos == QoS::AtMostOnce {
                self.events.push_back(Event::Published {
                    token,
                    result: Ok(()),
                });
            } else {
                self.inflight.push_back(InFlight {
                    token,
                    publish,
                    released: false,
                });
            }
            return Some(bytes);
        }
    }

    fn encode(&mut self, packet: &Packet, now: Timestamp) -> Option<Bytes> {
        let mut out = BytesMut::new();
        encode(packet, ProtocolVersion::V5, &mut out).ok()?;
        self.last_sent = now;
        Some(out.freeze())
    }

    /// When [`on_timer`](Self::on_timer) should run next.
    pub fn next_timer(&self) -> Option<Timestamp> {
        let keep_alive = self.connected?.keep_alive;
        if keep_alive == 0 {
            return None;
        }
        Some(match self.ping_sent {
            // A PINGRESP gets half a keep-alive period.
            Some(at) => Timestamp(at.0 + u64::from(keep_alive) * 500),
            None => self.last_sent.after_secs(u32::from(keep_alive)),
        })
    }

    /// Sends PINGREQ when the connection was idle for a keep-alive period; tells the host to
    /// close when a PINGREQ went unanswered.
    pub fn on_timer(&mut self, now: Timestamp) -> TimerAction {
        let Some(limits) = self.connected else {
            return TimerAction::Nothing;
        };
        if limits.keep_alive == 0 {
            return TimerAction::Nothing;
        }
        let period_ms = u64::from(limits.keep_alive) * 1000;
        match self.ping_sent {
            Some(at) if now.0 >= at.0 + period_ms / 2 => TimerAction::CloseTransport,
            Some(_) => TimerAction::Nothing,
            None if now.0 >= self.last_sent.0 + period_ms => {
                self.control.push_back(Packet::PingReq);
                self.ping_sent = Some(now);
                TimerAction::Nothing
            }
            None => TimerAction::Nothing,
        }
    }

    /// DISCONNECT for a page going away: reason 0x04 so the server publishes the wills, and
    /// session expiry 0 so it does so at once.
    #[must_use]
    pub fn leave(&mut self) -> Option<Bytes> {
        let mut d = Disconnect::new(ReasonCode::DisconnectWithWillMessage);
        d.properties.session_expiry_interval = Some(0);
        self.encode(&Packet::Disconnect(d), self.last_sent)
    }

    /// DISCONNECT 0x00 for a page that closes the connection on purpose: no will fires, and
    /// the server keeps the session for its expiry.
    #[must_use]
    pub fn disconnect(&mut self) -> Option<Bytes> {
        let d = Disconnect::new(ReasonCode::Success);
        self.encode(&Packet::Disconnect(d), self.last_sent)
    }

    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }
}

/// `packet` encoded, or the reason it cannot go to a server whose Maximum Packet Size is
/// `max`. A payload alone over the limit is refused before anything is encoded.
fn encode_within(packet: &Packet, max: usize) -> Result<Bytes, ReasonCode> {
    if let Packet::Publish(p) = packet
        && p.payload.len() >= max
    {
        return Err(ReasonCode::PacketTooLarge);
    }
    let mut out = BytesMut::new();
    match encode(packet, ProtocolVersion::V5, &mut out) {
        Ok(()) if out.len() <= max => Ok(out.freeze()),
        Ok(()) | Err(crate::EncodeError::VarIntTooLarge(_)) => Err(ReasonCode::PacketTooLarge),
        Err(_) => Err(ReasonCode::ProtocolError),
    }
}
