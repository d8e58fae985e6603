//! The load generator's MQTT client: pubzub-core's codec over TCP or WebSocket, MQTT 3.1.1 or 5,
//! the same bytes for every broker, so that the brokers are what differs.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use pubzub_core::{
    Connect, Decoder, Packet, PacketId, ProtocolVersion, Publish, QoS, Subscribe, SubscribeFilter,
    SubscriptionOptions, TopicName, encode,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::Error;

/// Where and how to reach a broker: its address, the MQTT version, and TCP or a WebSocket
/// path.
#[derive(Debug, Clone, Copy)]
pub struct Endpoint {
    pub addr: SocketAddr,
    pub version: ProtocolVersion,
    /// The WebSocket path (subprotocol `mqtt`); `None`: plain TCP.
    pub ws_path: Option<&'static str>,
}

impl Endpoint {
    pub fn tcp(addr: SocketAddr, version: ProtocolVersion) -> Endpoint {
        Endpoint {
            addr,
            version,
            ws_path: None,
        }
    }
}

type Ws = WebSocketStream<TcpStream>;

enum Rx {
    Tcp(OwnedReadHalf),
    Ws(SplitStream<Ws>),
}

enum Tx {
    Tcp(OwnedWriteHalf),
    Ws(SplitSink<Ws, Message>),
}

/// The receiving half: decodes packets from what the broker sends.
pub struct Reader {
    rx: Rx,
    pub buf: BytesMut,
    decoder: Decoder,
}

/// The sending half: packets are queued, then written together by [`Writer::flush`].
pub struct Writer {
    tx: Tx,
    out: BytesMut,
    version: ProtocolVersion,
}

/// A connected client.
pub struct Client {
    pub reader: Reader,
    pub writer: Writer,
}

impl Client {
    /// Connects with a clean session.
    pub async fn connect(ep: &Endpoint, id: &str) -> Result<Client, Error> {
        Client::with(ep, id, None).await
    }

    /// Connects with clean start off and this session expiry (MQTT 3.1.1: a persistent
    /// session), or with a clean session.
    pub async fn with(ep: &Endpoint, id: &str, expiry: Option<u32>) -> Result<Client, Error> {
        let stream = TcpStream::connect(ep.addr).await?;
        Client::over(stream, ep, id, expiry).await
    }

    /// Connects over `stream`, opened with whatever socket options the workload needs.
    pub async fn over(
        stream: TcpStream,
        ep: &Endpoint,
        id: &str,
        expiry: Option<u32>,
    ) -> Result<Client, Error> {
        stream.set_nodelay(true)?;
        let (rx, tx) = match ep.ws_path {
            None => {
                let (rx, tx) = stream.into_split();
                (Rx::Tcp(rx), Tx::Tcp(tx))
            }
            Some(path) => {
                let mut req = format!("ws://{}{path}", ep.addr).into_client_request()?;
                req.headers_mut()
                    .insert("Sec-WebSocket-Protocol", "mqtt".parse()?);
                let (ws, _) = tokio_tungstenite::client_async(req, stream).await?;
                let (tx, rx) = ws.split();
                (Rx::Ws(rx), Tx::Ws(tx))
            }
        };
        let mut decoder = Decoder::new(u32::MAX);
        decoder.set_version(ep.version);
        let mut c = Client {
            reader: Reader {
                rx,
                buf: BytesMut::with_capacity(64 * 1024),
                decoder,
            },
            writer: Writer {
                tx,
                out: BytesMut::new(),
                version: ep.version,
            },
        };
        let properties = pubzub_core::ConnectProperties {
            session_expiry_interval: expiry.filter(|_| ep.version == ProtocolVersion::V5),
            ..Default::default()
        };
        c.queue(&Packet::Connect(Box::new(Connect {
            protocol: ep.version,
            clean_start: expiry.is_none(),
            // Longer than any workload (no PINGREQ is sent); rumqttd refuses 0.
            keep_alive: 600,
            client_id: id.into(),
            will: None,
            username: None,
            password: None,
            properties,
        })))?;
        c.flush().await?;
        match c.recv().await? {
            Packet::ConnAck(_) => Ok(c),
            other => Err(format!("expected CONNACK, got {other:?}").into()),
        }
    }

    pub fn queue(&mut self, p: &Packet) -> Result<(), Error> {
        self.writer.queue(p)
    }

    pub async fn flush(&mut self) -> Result<(), Error> {
        self.writer.flush().await
    }

    pub async fn recv(&mut self) -> Result<Packet, Error> {
        self.reader.recv().await
    }

    /// Subscribes to one filter and waits for the SUBACK.
    pub async fn subscribe(&mut self, filter: &str, qos: QoS) -> Result<(), Error> {
        self.queue(&Packet::Subscribe(Subscribe {
            packet_id: PacketId::new(1).ok_or("id")?,
            properties: Default::default(),
            filters: vec![SubscribeFilter {
                filter: filter.try_into()?,
                options: SubscriptionOptions {
                    qos,
                    ..Default::default()
                },
            }],
        }))?;
        self.flush().await?;
        match self.recv().await? {
            Packet::SubAck(_) => Ok(()),
            other => Err(format!("expected SUBACK, got {other:?}").into()),
        }
    }

    /// Ends the connection with a DISCONNECT.
    pub async fn disconnect(mut self) -> Result<(), Error> {
        self.queue(&Packet::Disconnect(pubzub_core::Disconnect::new(
            pubzub_core::ReasonCode::Success,
        )))?;
        self.flush().await?;
        match self.writer.tx {
            Tx::Tcp(mut tx) => tx.shutdown().await?,
            Tx::Ws(mut tx) => tx.close().await?,
        }
        Ok(())
    }
}

impl Writer {
    pub fn queue(&mut self, p: &Packet) -> Result<(), Error> {
        encode(p, self.version, &mut self.out)?;
        Ok(())
    }

    /// Writes what was queued: one write, or one WebSocket message.
    pub async fn flush(&mut self) -> Result<(), Error> {
        let bytes = self.out.split().freeze();
        match &mut self.tx {
            Tx::Tcp(tx) => tx.write_all(&bytes).await?,
            Tx::Ws(tx) => tx.send(Message::Binary(bytes)).await?,
        }
        Ok(())
    }
}

impl Reader {
    pub async fn recv(&mut self) -> Result<Packet, Error> {
        loop {
            if let Some(p) = self.decoder.decode(&mut self.buf)? {
                return Ok(p);
            }
            self.fill().await?;
        }
    }

    /// The next packet, or `None` if nothing more came for `quiet`.
    pub async fn recv_within(&mut self, quiet: Duration) -> Result<Option<Packet>, Error> {
        loop {
            if let Some(p) = self.decoder.decode(&mut self.buf)? {
                return Ok(Some(p));
            }
            match tokio::time::timeout(quiet, self.fill()).await {
                Ok(filled) => filled?,
                Err(_) => return Ok(None),
            }
        }
    }

    /// Reads what the broker sent next into the buffer.
    async fn fill(&mut self) -> Result<(), Error> {
        let more = match &mut self.rx {
            Rx::Tcp(rx) => rx.read_buf(&mut self.buf).await? > 0,
            Rx::Ws(rx) => match rx.next().await {
                Some(Ok(Message::Binary(b))) => {
                    self.buf.extend_from_slice(&b);
                    true
                }
                Some(Ok(Message::Close(_))) | None => false,
                Some(Ok(_)) => true,
                Some(Err(e)) => return Err(e.into()),
            },
        };
        if more {
            Ok(())
        } else {
            Err("broker closed the connection".into())
        }
    }

    /// Reads and drops everything until the broker closes (acknowledgements a workload does
    /// not count).
    pub async fn drain(self) {
        match self.rx {
            Rx::Tcp(mut rx) => {
                let mut sink = vec![0u8; 64 * 1024];
                while rx.read(&mut sink).await.is_ok_and(|n| n > 0) {}
            }
            Rx::Ws(mut rx) => while let Some(Ok(_)) = rx.next().await {},
        }
    }
}

/// A PUBLISH of `payload` on `topic`; `id` is used for QoS 1 and 2.
pub fn publish(topic: &TopicName, payload: Bytes, qos: QoS, id: u16) -> Packet {
    let mut p = Publish::new(topic.clone(), payload);
    p.qos = qos;
    p.packet_id = if qos == QoS::AtMostOnce {
        None
    } else {
        PacketId::new(id)
    };
    Packet::Publish(p)
}
