//! Test harness: the real server on 127.0.0.1 with free ports, real rumqttc clients, and a raw
//! socket client for byte-level checks.
#![allow(dead_code)] // each test binary uses a different part

pub mod binary;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use pubzub_server::Server;
use pubzub_server::config::{Config, DEFAULT_SITE, Rule, RuleAccess, RuleAction, Setting};
use rumqttc::v5::mqttbytes::v5::{ConnAck, Packet, Publish};
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

pub use rumqttc::v5::mqttbytes::QoS;

/// How long a test waits for something that should happen.
pub const WAIT: Duration = Duration::from_secs(5);
/// How long a test waits to be sure something does not happen.
pub const QUIET: Duration = Duration::from_millis(300);

pub struct TestServer {
    pub server: Option<Server>,
    pub mqtt: SocketAddr,
    pub http: SocketAddr,
    pub mqtts: Option<SocketAddr>,
}

/// The server with default limits on free loopback ports (IPv4 only, no TLS), anonymous
/// clients allowed, and one access rule that allows everything: for the MQTT semantics tests.
pub async fn start() -> TestServer {
    start_with(|_| {}).await
}

/// [`start`] with changes to the configuration.
pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> TestServer {
    start_secured(|c| {
        c.sites
            .entry(DEFAULT_SITE.into())
            .or_default()
            .rules
            .push(Rule {
                action: RuleAction::Allow,
                access: RuleAccess::All,
                filter: "#".into(),
                who: "all".into(),
            });
        adjust(c);
    })
    .await
}

/// The server with its access rules as configured: deny by default, the built-in rules.
pub async fn start_secured(adjust: impl FnOnce(&mut Config)) -> TestServer {
    let mut config = Config::default();
    for l in [&mut config.http, &mut config.mqtt, &mut config.mqtts] {
        l.ip6 = Some(Setting::Off);
        l.port = Some(Setting::On(0));
    }
    adjust(&mut config);
    let server = Server::start(config).await.expect("server starts");
    TestServer {
        mqtt: server.mqtt_addrs()[0],
        http: server.http_addrs()[0],
        mqtts: server.mqtts_addrs().first().copied(),
        server: Some(server),
    }
}

impl TestServer {
    pub fn metrics(&self) -> String {
        self.server.as_ref().expect("running").metrics().render()
    }

    /// The value of a metric summed over its labels (sites, listeners), e.g.
    /// `metric("pubzub_dropped_messages_total")`.
    pub fn metric(&self, name: &str) -> i64 {
        let text = self.metrics();
        let values: Vec<i64> = text
            .lines()
            .filter_map(|l| {
                let rest = l.strip_prefix(name)?;
                let value = match rest.strip_prefix('{') {
                    Some(labelled) => labelled.split_once("} ")?.1,
                    None => rest.strip_prefix(' ')?,
                };
                value.parse().ok()
            })
            .collect();
        assert!(!values.is_empty(), "no metric {name} in\n{text}");
        values.iter().sum()
    }
}

/// A rumqttc v5 client whose event loop runs in a task; incoming packets arrive on a channel.
pub struct V5 {
    pub client: AsyncClient,
    rx: mpsc::UnboundedReceiver<Result<Packet, String>>,
    /// Packets set aside while waiting for a particular one (an own PUBLISH before its PUBACK).
    stash: std::collections::VecDeque<Packet>,
    task: tokio::task::JoinHandle<()>,
}

pub fn v5_options(addr: SocketAddr, id: &str) -> MqttOptions {
    let mut o = MqttOptions::new(id, addr.ip().to_string(), addr.port());
    o.set_keep_alive(Duration::from_secs(30));
    o
}

impl V5 {
    /// Connects and returns the CONNACK.
    pub async fn connect(options: MqttOptions) -> (V5, ConnAck) {
        let (client, mut eventloop) = AsyncClient::new(options, 100);
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(p)) => {
                        if tx.send(Ok(p)).is_err() {
                            break;
                        }
                    }
                    Ok(Event::Outgoing(_)) => {}
                    Err(e) => {
                        let _ = tx.send(Err(e.to_string()));
                        break;
                    }
                }
            }
        });
        let mut c = V5 {
            client,
            rx,
            stash: Default::default(),
            task,
        };
        match c.next().await {
            Packet::ConnAck(ack) => (c, ack),
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    pub async fn simple(addr: SocketAddr, id: &str) -> V5 {
        V5::connect(v5_options(addr, id)).await.0
    }

    /// The next packet from the server; panics after [`WAIT`] or on a connection error.
    pub async fn next(&mut self) -> Packet {
        if let Some(p) = self.stash.pop_front() {
            return p;
        }
        match tokio::time::timeout(WAIT, self.rx.recv()).await {
            Ok(Some(Ok(p))) => p,
            Ok(Some(Err(e))) => panic!("connection error: {e}"),
            Ok(None) => panic!("event loop ended"),
            Err(_) => panic!("nothing arrived within {WAIT:?}"),
        }
    }

    /// The next PUBLISH, skipping acks.
    pub async fn publish(&mut self) -> Publish {
        loop {
            if let Packet::Publish(p) = self.next().await {
                return p;
            }
        }
    }

    /// The next packet that is not a PUBLISH ack or PINGRESP (SUBACK, UNSUBACK, DISCONNECT...).
    pub async fn control(&mut self) -> Packet {
        loop {
            match self.next().await {
                Packet::PubAck(_)
                | Packet::PubComp(_)
                | Packet::PubRec(_)
                | Packet::PingResp(_) => {}
                p => return p,
            }
        }
    }

    /// The next packet or connection error.
    pub async fn next_event(&mut self) -> Result<Packet, String> {
        match tokio::time::timeout(WAIT, self.rx.recv()).await {
            Ok(Some(r)) => r,
            Ok(None) => Err("event loop ended".into()),
            Err(_) => panic!("nothing arrived within {WAIT:?}"),
        }
    }

    /// Asserts that no PUBLISH arrives for [`QUIET`].
    pub async fn no_publish(&mut self) {
        if let Some(p) = self.stash.iter().find(|p| matches!(p, Packet::Publish(_))) {
            panic!("unexpected PUBLISH {p:?}");
        }
        let deadline = tokio::time::Instant::now() + QUIET;
        while let Ok(Some(got)) = tokio::time::timeout_at(deadline, self.rx.recv()).await {
            if let Ok(Packet::Publish(p)) = got {
                panic!("unexpected PUBLISH {p:?}");
            }
        }
    }

    /// Publishes at QoS 1 and waits for the PUBACK: the server has taken the message.
    pub async fn publish_acked(&mut self, topic: &str, payload: impl Into<Vec<u8>>, retain: bool) {
        self.publish_acked_with(topic, payload, retain, Default::default())
            .await;
    }

    pub async fn publish_acked_with(
        &mut self,
        topic: &str,
        payload: impl Into<Vec<u8>>,
        retain: bool,
        props: rumqttc::v5::mqttbytes::v5::PublishProperties,
    ) {
        let payload: Vec<u8> = payload.into();
        self.client
            .publish_with_properties(topic, QoS::AtLeastOnce, retain, payload, props)
            .await
            .expect("queued");
        let mut set_aside = Vec::new();
        loop {
            match self.next().await {
                Packet::PubAck(_) => break,
                other => set_aside.push(other),
            }
        }
        // Whatever came first (an own PUBLISH, say) is read next.
        for p in set_aside.into_iter().rev() {
            self.stash.push_front(p);
        }
    }

    /// [`puback`](V5::puback) for a retained message.
    pub async fn puback_retained(
        &mut self,
        topic: &str,
        payload: impl Into<Vec<u8>>,
    ) -> rumqttc::v5::mqttbytes::v5::PubAckReason {
        self.puback_with(topic, payload.into(), true).await
    }

    /// Publishes at QoS 1 and returns the PUBACK's reason code; what arrives before the
    /// PUBACK (an own PUBLISH, say) is skipped.
    pub async fn puback(
        &mut self,
        topic: &str,
        payload: impl Into<Vec<u8>>,
    ) -> rumqttc::v5::mqttbytes::v5::PubAckReason {
        self.puback_with(topic, payload.into(), false).await
    }

    async fn puback_with(
        &mut self,
        topic: &str,
        payload: Vec<u8>,
        retain: bool,
    ) -> rumqttc::v5::mqttbytes::v5::PubAckReason {
        self.client
            .publish(topic, QoS::AtLeastOnce, retain, payload)
            .await
            .expect("queued");
        loop {
            if let Packet::PubAck(a) = self.next().await {
                return a.reason;
            }
        }
    }

    /// Subscribes and waits for the SUBACK; returns its reason codes.
    pub async fn subscribe(&mut self, filter: &str, qos: QoS) -> Packet {
        self.client.subscribe(filter, qos).await.expect("queued");
        self.control().await
    }

    /// Drops the connection without DISCONNECT (the socket just closes).
    pub fn kill(self) {
        self.task.abort();
    }

    pub async fn disconnect(mut self) {
        self.client.disconnect().await.expect("queued");
        // The event loop reports the closed connection once DISCONNECT is written.
        let _ = tokio::time::timeout(WAIT, async { while self.rx.recv().await.is_some() {} }).await;
    }
}

/// A raw MQTT connection: bytes in, packets out, with pubzub-core's codec. For checks
/// rumqttc cannot make (malformed input, exact flags).
pub struct Raw {
    pub stream: TcpStream,
    buf: BytesMut,
    decoder: pubzub_core::Decoder,
    version: pubzub_core::ProtocolVersion,
}

impl Raw {
    pub async fn open(addr: SocketAddr) -> Raw {
        Raw {
            stream: TcpStream::connect(addr).await.expect("connects"),
            buf: BytesMut::new(),
            decoder: pubzub_core::Decoder::new(u32::MAX),
            version: pubzub_core::ProtocolVersion::V5,
        }
    }

    pub fn set_version(&mut self, v: pubzub_core::ProtocolVersion) {
        self.version = v;
        self.decoder.set_version(v);
    }

    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        // The server may already have closed; a failed write shows up in `recv`.
        let _ = self.stream.write_all(bytes).await;
    }

    pub async fn send(&mut self, packet: pubzub_core::Packet) {
        let mut out = BytesMut::new();
        pubzub_core::encode(&packet, self.version, &mut out).expect("encodable");
        self.send_bytes(&out).await;
    }

    /// The next packet, or `None` when the server closes the connection.
    pub async fn recv(&mut self) -> Option<pubzub_core::Packet> {
        loop {
            if let Some(p) = self
                .decoder
                .decode(&mut self.buf)
                .expect("server sends valid packets")
            {
                return Some(p);
            }
            let n = tokio::time::timeout(WAIT, self.stream.read_buf(&mut self.buf))
                .await
                .expect("server answers or closes in time");
            match n {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// Sends a v5 CONNECT with this client id and returns the CONNACK.
    pub async fn connect(addr: SocketAddr, client_id: &str) -> (Raw, pubzub_core::ConnAck) {
        Raw::connect_with(addr, connect_packet(client_id)).await
    }

    /// Sends `connect` and returns the CONNACK.
    pub async fn connect_with(
        addr: SocketAddr,
        connect: pubzub_core::Connect,
    ) -> (Raw, pubzub_core::ConnAck) {
        let mut raw = Raw::open(addr).await;
        raw.set_version(connect.protocol);
        raw.send(pubzub_core::Packet::Connect(Box::new(connect)))
            .await;
        match raw.recv().await {
            Some(pubzub_core::Packet::ConnAck(a)) => (raw, a),
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }
}

/// The routing id a CONNACK names (user property `cotonic-routing-id`).
pub fn routing_id(ack: ConnAck) -> String {
    ack.properties
        .expect("props")
        .user_properties
        .into_iter()
        .find(|(k, _)| k == "cotonic-routing-id")
        .expect("a routing id on every CONNACK")
        .1
}

/// An access rule: `action` `access` on `filter` for `who`.
pub fn rule(action: RuleAction, access: RuleAccess, filter: &str, who: &str) -> Rule {
    Rule {
        action,
        access,
        filter: filter.into(),
        who: who.into(),
    }
}

/// A SUBSCRIBE of one filter with default options (QoS 0); tests change what they need.
pub fn subscribe_packet(packet_id: u16, filter: &str) -> pubzub_core::Subscribe {
    pubzub_core::Subscribe {
        packet_id: pubzub_core::PacketId::new(packet_id).expect("a packet id is not 0"),
        properties: Default::default(),
        filters: vec![pubzub_core::SubscribeFilter {
            filter: filter.try_into().expect("a valid filter"),
            options: Default::default(),
        }],
    }
}

/// A v5 CONNECT with a clean start and a 30 s keep alive; tests change what they need.
pub fn connect_packet(client_id: &str) -> pubzub_core::Connect {
    pubzub_core::Connect {
        protocol: pubzub_core::ProtocolVersion::V5,
        clean_start: true,
        keep_alive: 30,
        client_id: client_id.into(),
        will: None,
        username: None,
        password: None,
        properties: Default::default(),
    }
}
