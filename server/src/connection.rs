//! One client connection, whatever it runs over: decode packets from the inbound bytes, hand
//! them to the broker, and write what the broker queues for this client.
//!
//! The reader (this task) owns the connection-level state: the protocol version, keep alive,
//! the client's topic aliases and its publish rate. A writer task drains the outgoing channel,
//! encoding everything that is ready into one buffer per write.

use std::net::SocketAddr;
use std::sync::{Arc, MutexGuard};
use std::time::Duration;

use bytes::BytesMut;
use pubzub_core::{
    ByteStr, ConnAck, DecodeError, Decoder, Disconnect, IncomingAliases, OutgoingAliases, Packet,
    ProtocolVersion, Publish, QoS, ReasonCode, encode,
};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::auth;
use crate::broker::{Accepted, Broker, Ending, Outgoing};
use crate::hub::{Hub, Site, Transport};
use crate::metrics::ListenerMetrics;
use crate::outbox::{OutboxTx, outbox};
use crate::transport::{Inbound, Outbound, RecvError};
use crate::writer::{Writer, WriterMetrics};

/// Why the connection ends, for the log line and the broker.
enum Close {
    /// DISCONNECT from the client, or the stream ended.
    Client(Ending, Option<u32>),
    /// The broker or the writer closed it (takeover, shutdown, socket error).
    Server,
    /// Malformed or forbidden input: DISCONNECT with this code (v5), then close.
    Violation(ReasonCode, String),
}

/// Where a connection came from: its transport, and for WebSockets the Host header, which
/// selects the site.
#[derive(Debug, Clone)]
pub struct Origin {
    pub transport: Transport,
    pub host: Option<String>,
    pub peer: SocketAddr,
}

/// Serves one connection until it ends. Never panics on input.
pub async fn serve<I: Inbound, O: Outbound>(
    hub: Arc<Hub>,
    inbound: I,
    outbound: O,
    origin: Origin,
) {
    let listener = hub.metrics.listener(origin.transport).clone();
    listener.connections.inc();
    listener.accepted.inc();
    run(&hub, inbound, outbound, origin, &listener).await;
    listener.connections.dec();
}

/// Sends a refusing CONNACK (unless the client's version is unknown) and closes.
async fn refuse<O: Outbound>(mut outbound: O, code: ReasonCode, version: Option<ProtocolVersion>) {
    if let Some(version) = version {
        let mut out = BytesMut::new();
        let ack = ConnAck {
            reason_code: code,
            ..ConnAck::default()
        };
        if encode(&Packet::ConnAck(ack), version, &mut out).is_ok() {
            let _ = outbound.send(out.freeze()).await;
        }
    }
    outbound.close(Some(code)).await;
}

/// Picks the site and checks the credentials of a CONNECT. The username `host:user` selects
/// the site by host; otherwise the WebSocket's Host header does, or the default site.
/// Returns the site and the user (`None`: anonymous), or the CONNACK reason to refuse with.
async fn login(
    hub: &Hub,
    connect: &pubzub_core::Connect,
    origin: &Origin,
) -> Result<(Arc<Site>, Option<ByteStr>), ReasonCode> {
    let by_host = origin.host.as_deref().and_then(|h| hub.site_for_host(h));
    let fallback = by_host.unwrap_or(hub.default_site()).clone();
    let (site, name) = match connect.username.as_deref() {
        Some(u) => match u
            .split_once(':')
            .and_then(|(host, user)| hub.site_for_host(host).map(|s| (s.clone(), user)))
        {
            Some((site, user)) => (site, Some(user.to_owned())),
            None => (fallback, Some(u.to_owned())),
        },
        None => (fallback, None),
    };
    // A development broker checks only the users it knows: another name logs in as nobody.
    let name = name.filter(|n| !site.development || site.password_hash(n).is_some());
    let Some(name) = name else {
        return if site.allows_anonymous(origin.transport) {
            Ok((site, None))
        } else {
            Err(ReasonCode::NotAuthorized)
        };
    };
    let ip = origin.peer.ip();
    tokio::time::sleep(hub.failures.delay(ip)).await;
    let verified = match (site.password_hash(&name), &connect.password) {
        (hash, Some(password)) => {
            let password = password.clone();
            // Hashing takes milliseconds of CPU: off the async workers. An unknown user costs
            // as much as a known one.
            tokio::task::spawn_blocking(move || match hash {
                Some(hash) => auth::verify_password(&password, &hash),
                None => auth::verify_unknown_user(&password),
            })
            .await
            .unwrap_or(false)
        }
        (_, None) => false,
    };
    if verified {
        hub.failures.succeeded(ip);
        Ok((site, Some(ByteStr::from(name))))
    } else {
        hub.failures.failed(ip);
        tracing::info!(peer = %origin.peer, site = %site.name, user = %name, "login failed");
        Err(ReasonCode::BadUserNameOrPassword)
    }
}

/// A connection past its CONNACK: what the packet loop needs.
struct Opened {
    site: Arc<Site>,
    accepted: Accepted,
    tx: OutboxTx,
    writer: tokio::task::JoinHandle<()>,
    /// Closed when the writer ends (a write failed, or the broker closed the connection).
    done_rx: oneshot::Receiver<()>,
}

async fn run<I: Inbound, O: Outbound>(
    hub: &Arc<Hub>,
    mut inbound: I,
    outbound: O,
    origin: Origin,
    listener: &ListenerMetrics,
) {
    let peer = origin.peer;
    let mut buf = BytesMut::new();
    let mut decoder = Decoder::new(hub.limits.max_packet_size);
    // The connect phase runs in a box of its own, freed when it is over: inline, its futures
    // and the CONNECT would take room in every connection's task for as long as it lives.
    let opening = Box::pin(open(
        hub,
        &mut inbound,
        outbound,
        &origin,
        listener,
        &mut buf,
        &mut decoder,
    ));
    let Some(Opened {
        site,
        accepted,
        tx,
        writer,
        mut done_rx,
    }) = opening.await
    else {
        return;
    };
    let mut conn = Conn {
        hub,
        site: &site,
        accepted: &accepted,
        tx: &tx,
        aliases: IncomingAliases::new(),
        rate: RateLimit::new(hub.limits.max_publish_rate),
    };
    let keep_alive = (accepted.keep_alive > 0)
        .then(|| Duration::from_millis(u64::from(accepted.keep_alive) * 1500));

    let close = 'conn: loop {
        // Every packet already buffered first, under one lock of the broker; then wait for
        // more bytes with the lock released.
        {
            let mut broker = Locked::new(&site);
            loop {
                match decoder.decode(&mut buf) {
                    Ok(Some(packet)) => {
                        if let Some(close) = conn.handle(packet, &mut broker) {
                            break 'conn close;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => break 'conn Close::Violation(e.reason_code(), e.to_string()),
                }
            }
        }
        let deadline = keep_alive.map(|d| Instant::now() + d);
        let read = tokio::select! {
            read = inbound.recv(&mut buf) => read,
            _ = &mut done_rx => break Close::Server,
            _ = sleep_until(deadline) => {
                break Close::Violation(ReasonCode::KeepAliveTimeout, "keep alive timeout".into())
            }
        };
        match read {
            Ok(0) => break Close::Client(Ending::Lost, None),
            Ok(n) => {
                listener.bytes_in.inc_by(n as u64);
            }
            Err(RecvError::Io(e)) => {
                tracing::debug!(%peer, "read failed: {e}");
                break Close::Client(Ending::Lost, None);
            }
            Err(e @ RecvError::TooLarge) => {
                break Close::Violation(ReasonCode::PacketTooLarge, e.to_string());
            }
            Err(e @ RecvError::TextFrame) => {
                break Close::Violation(ReasonCode::MalformedPacket, e.to_string());
            }
        }
    };

    let now = hub.now();
    let client = &accepted.client_id;
    {
        let mut broker = site.broker();
        match close {
            Close::Client(ending, expiry) => {
                let how = match ending {
                    Ending::Normal => "disconnected",
                    Ending::WithWill => "disconnected with its will (DISCONNECT 0x04)",
                    Ending::Lost => "connection lost",
                };
                tracing::info!(%peer, %client, "{how}");
                broker.disconnected(client, accepted.conn, ending, expiry, now)
            }
            Close::Server => {
                tracing::info!(%peer, %client, "closed by the server (taken over, or shutting down)");
                broker.disconnected(client, accepted.conn, Ending::Lost, None, now)
            }
            Close::Violation(code, why) => {
                listener.protocol_errors.inc();
                tracing::info!(%peer, %client, "closing connection: {why} (reason {:#04x})", code as u8);
                broker.kick(client, accepted.conn, code);
                broker.disconnected(client, accepted.conn, Ending::Lost, None, now);
            }
        }
    }
    drop(conn);
    drop(tx);
    // Let the writer flush what is queued (a DISCONNECT, say), but not forever.
    let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
}

/// Reads the CONNECT, logs the client in, starts the writer and opens the session. `None`:
/// refused (answered and closed) or gone.
async fn open<I: Inbound, O: Outbound>(
    hub: &Arc<Hub>,
    inbound: &mut I,
    outbound: O,
    origin: &Origin,
    listener: &ListenerMetrics,
    buf: &mut BytesMut,
    decoder: &mut Decoder,
) -> Option<Opened> {
    let peer = origin.peer;
    let connect = match read_connect(hub, inbound, buf, decoder, listener).await {
        Ok(connect) => connect,
        Err(refusal) => {
            if let Some((code, version)) = refusal {
                listener.protocol_errors.inc();
                tracing::info!(%peer, "refused before CONNECT: reason {:#04x}", code as u8);
                refuse(outbound, code, version).await;
            }
            return None;
        }
    };
    let (site, user) = match login(hub, &connect, origin).await {
        Ok(login) => login,
        Err(code) => {
            listener.refused.inc();
            let user = connect.username.as_deref().unwrap_or("(none)");
            tracing::info!(%peer, %user, "login refused: reason {:#04x}", code as u8);
            refuse(outbound, code, Some(connect.protocol)).await;
            return None;
        }
    };
    let version = connect.protocol;
    let (tx, rx) = outbox();
    let (done_tx, done_rx) = oneshot::channel::<()>();
    let writer = Writer {
        version,
        aliases: OutgoingAliases::new(),
        topic_alias_maximum: connect.properties.topic_alias_maximum.unwrap_or(0),
        max_packet_size: connect
            .properties
            .maximum_packet_size
            .map_or(usize::MAX, |m| m.get() as usize),
        metrics: WriterMetrics {
            bytes_out: listener.bytes_out.clone(),
            messages_out: site.metrics.messages_out.clone(),
            latency: hub.metrics.latency.clone(),
        },
    };
    let writer = tokio::spawn(writer.run(rx, outbound, done_tx));

    let now = hub.now();
    let user_name = user.as_deref().unwrap_or("(anonymous)").to_owned();
    let accepted = site.broker().connect(connect, user, tx.clone(), now);
    let accepted = match accepted {
        Ok(accepted) => accepted,
        Err(code) => {
            listener.refused.inc();
            tracing::info!(%peer, site = %site.name, user = %user_name, "connection refused: reason {:#04x}", code as u8);
            drop(tx);
            let _ = writer.await;
            return None;
        }
    };
    tracing::info!(
        %peer,
        client = %accepted.client_id,
        user = %user_name,
        site = %site.name,
        version = ?version,
        transport = ?origin.transport,
        "connected"
    );
    Some(Opened {
        site,
        accepted,
        tx,
        writer,
        done_rx,
    })
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Reads until the first packet, which must be CONNECT, within the connect timeout.
/// `Err(Some((code, version)))`: answer CONNACK with that code in that version, or without a
/// version just close (logged and counted either way); `Err(None)`: just close.
async fn read_connect<I: Inbound>(
    hub: &Hub,
    inbound: &mut I,
    buf: &mut BytesMut,
    decoder: &mut Decoder,
    listener: &ListenerMetrics,
) -> Result<pubzub_core::Connect, Option<(ReasonCode, Option<ProtocolVersion>)>> {
    let deadline = Instant::now() + hub.limits.connect_timeout();
    loop {
        // Read before decoding, which takes the packet's bytes out of `buf`.
        let level = connect_level(buf);
        match decoder.decode(buf) {
            Ok(Some(Packet::Connect(c))) => return Ok(*c),
            Ok(Some(_)) => return Err(None), // [MQTT-3.1.0-1]
            Ok(None) => {}
            Err(e @ DecodeError::UnsupportedProtocolVersion(_)) => {
                return Err(Some((e.reason_code(), Some(ProtocolVersion::V311))));
            }
            // A 3.1.1 client gets no v5-shaped CONNACK: 3.1.1 has no return code for a
            // malformed CONNECT, and the server closes the connection [MQTT-3.1.4-1].
            Err(e) if level.is_some_and(|level| level < 5) => {
                return Err(Some((e.reason_code(), None)));
            }
            Err(e) => return Err(Some((e.reason_code(), Some(decoder.version())))),
        }
        match tokio::time::timeout_at(deadline, inbound.recv(buf)).await {
            Ok(Ok(n)) if n > 0 => {
                listener.bytes_in.inc_by(n as u64);
            }
            // Not even a CONNECT fits: closed with the reason (a WebSocket's close code 1009),
            // without a CONNACK, since the client's version is unknown.
            Ok(Err(RecvError::TooLarge)) => return Err(Some((ReasonCode::PacketTooLarge, None))),
            _ => return Err(None),
        }
    }
}

/// The protocol level a CONNECT's bytes ask for (3 and 4 are 3.1 and 3.1.1, 5 is v5), read
/// past the fixed header and the protocol name, for a CONNECT too broken to decode.
fn connect_level(bytes: &[u8]) -> Option<u8> {
    if bytes.first()? >> 4 != 1 {
        return None;
    }
    let mut at = 1;
    while *bytes.get(at)? & 0x80 != 0 {
        at += 1;
        if at > 4 {
            return None;
        }
    }
    let name_len = usize::from(u16::from_be_bytes([
        *bytes.get(at + 1)?,
        *bytes.get(at + 2)?,
    ]));
    bytes.get(at + 3 + name_len).copied()
}

/// Packets handled under one lock of the broker before others get their turn.
const PACKETS_PER_LOCK: u32 = 64;

/// The site's broker, locked at the first packet that needs it and kept for the packets read
/// with it, up to [`PACKETS_PER_LOCK`]. With many publishers, locking once per packet had the
/// workers sleeping on the lock and waking each other for most of their time.
struct Locked<'a> {
    site: &'a Site,
    guard: Option<MutexGuard<'a, Broker>>,
    uses: u32,
}

impl<'a> Locked<'a> {
    fn new(site: &'a Site) -> Locked<'a> {
        Locked {
            site,
            guard: None,
            uses: 0,
        }
    }

    fn get(&mut self) -> &mut Broker {
        if self.uses == PACKETS_PER_LOCK {
            self.guard = None;
            self.uses = 0;
        }
        self.uses += 1;
        self.guard.get_or_insert_with(|| self.site.broker())
    }
}

/// The per-connection state the reader keeps between packets.
struct Conn<'a> {
    hub: &'a Hub,
    site: &'a Site,
    accepted: &'a Accepted,
    tx: &'a OutboxTx,
    /// The client's topic aliases [MQTT-3.3.2.3.4].
    aliases: IncomingAliases,
    rate: RateLimit,
}

impl Conn<'_> {
    fn handle(&mut self, packet: Packet, broker: &mut Locked) -> Option<Close> {
        let client = &self.accepted.client_id;
        let conn = self.accepted.conn;
        let now = self.hub.now();
        match packet {
            Packet::Publish(p) => return self.publish(p, broker),
            Packet::PubAck(_) | Packet::PubRec(_) | Packet::PubRel(_) | Packet::PubComp(_) => {
                if let Err(code) = broker.get().ack(client, conn, packet, now) {
                    let why = "the wrong acknowledgement for a message in flight".to_owned();
                    return Some(Close::Violation(code, why));
                }
            }
            Packet::Subscribe(s) => {
                if let Err(code) = broker.get().subscribe(client, conn, s, now) {
                    return Some(Close::Violation(code, "invalid SUBSCRIBE".into()));
                }
            }
            Packet::Unsubscribe(u) => broker.get().unsubscribe(client, conn, u),
            Packet::PingReq => {
                self.tx.send(Outgoing::packet(Packet::PingResp));
            }
            Packet::Disconnect(d) => return Some(self.disconnect(d)),
            other => {
                // A second CONNECT, AUTH without an authentication method, or a packet only
                // the server sends [MQTT-3.1.0-2].
                return Some(Close::Violation(
                    ReasonCode::ProtocolError,
                    format!("unexpected {:?} from client", other.packet_type()),
                ));
            }
        }
        None
    }

    fn publish(&mut self, mut p: Publish, broker: &mut Locked) -> Option<Close> {
        let max = self.hub.limits.topic_alias_maximum;
        if let Err(e) = self.aliases.resolve(&mut p, max) {
            return Some(Close::Violation(e.reason_code(), e.to_string()));
        }
        if !p.properties.subscription_identifiers.is_empty() {
            // [MQTT-3.3.4-6]
            return Some(Close::Violation(
                ReasonCode::ProtocolError,
                "subscription identifier in a client PUBLISH".into(),
            ));
        }
        let now = self.hub.now();
        if !self.rate.allow(now.0) {
            self.site.metrics.dropped.inc();
            if let Some(id) = p.packet_id {
                let mut ack = pubzub_core::Ack::new(id);
                // 0x96 is a DISCONNECT code only; PUBACK and PUBREC say "quota exceeded".
                ack.reason_code = ReasonCode::QuotaExceeded;
                let packet = if p.qos == QoS::AtLeastOnce {
                    Packet::PubAck(ack)
                } else {
                    Packet::PubRec(ack)
                };
                // Through the broker: with durability = "sync" the acknowledgements before it
                // may be waiting for a commit, and PUBACKs keep their order [MQTT-4.6.0-2].
                let (client, conn) = (&self.accepted.client_id, self.accepted.conn);
                broker.get().acknowledge(client, conn, packet);
                self.hub.wake_committer();
            }
            return None;
        }
        let client = &self.accepted.client_id;
        let acknowledged = p.qos != QoS::AtMostOnce;
        let published = broker.get().publish(client, self.accepted.conn, p, now);
        if acknowledged {
            // With durability = "sync" its PUBACK/PUBREC waits for the commit.
            self.hub.wake_committer();
        }
        match published {
            Ok(()) => None,
            Err(code) => Some(Close::Violation(
                code,
                "too many unacknowledged QoS 2 messages".into(),
            )),
        }
    }

    fn disconnect(&self, d: Disconnect) -> Close {
        let expiry = d.properties.session_expiry_interval;
        if self.accepted.session_expiry == 0 && expiry.is_some_and(|e| e > 0) {
            // [MQTT-3.14.2-2]
            return Close::Violation(
                ReasonCode::ProtocolError,
                "DISCONNECT raised a zero session expiry".into(),
            );
        }
        let ending = match d.reason_code {
            ReasonCode::Success => Ending::Normal,
            ReasonCode::DisconnectWithWillMessage => Ending::WithWill,
            _ => Ending::Lost,
        };
        Close::Client(ending, expiry)
    }
}

/// A token bucket: `rate` publishes a second, bursts of up to `rate`.
struct RateLimit {
    rate: u32,
    tokens: f64,
    last_ms: u64,
}

impl RateLimit {
    fn new(rate: u32) -> RateLimit {
        RateLimit {
            rate,
            tokens: f64::from(rate),
            last_ms: 0,
        }
    }

    fn allow(&mut self, now_ms: u64) -> bool {
        if self.rate == 0 {
            return true;
        }
        let elapsed = now_ms.saturating_sub(self.last_ms) as f64 / 1000.0;
        self.last_ms = now_ms;
        let rate = f64::from(self.rate);
        self.tokens = (self.tokens + elapsed * rate).min(rate);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}
