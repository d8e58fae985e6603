//! The byte pipes a connection runs over: a TCP or TLS stream, or a WebSocket carrying binary
//! frames. The connection handler sees only [`Inbound`] and [`Outbound`], so all three share it.

use std::io;

use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket};
use bytes::{Bytes, BytesMut};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use pubzub_core::ReasonCode;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::tcp::OwnedReadHalf;

/// Why bytes from the client stopped coming.
#[derive(Debug, thiserror::Error)]
pub enum RecvError {
    /// The stream failed: a reset, a TLS error, a broken WebSocket frame.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// A WebSocket message over the maximum packet size: it was not buffered.
    #[error("a WebSocket message over the maximum packet size")]
    TooLarge,
    /// A text frame on the MQTT WebSocket [MQTT-6.0.0-1].
    #[error("a text frame on the MQTT WebSocket")]
    TextFrame,
}

/// Bytes from the client, in whatever pieces they arrive.
pub trait Inbound: Send {
    /// Appends what arrived to `buf`; `Ok(0)` at the end of the stream.
    fn recv(&mut self, buf: &mut BytesMut)
    -> impl Future<Output = Result<usize, RecvError>> + Send;
}

/// Bytes to the client.
pub trait Outbound: Send + 'static {
    fn send(&mut self, bytes: Bytes) -> impl Future<Output = io::Result<()>> + Send;
    /// Closes the connection; `why` is the reason code of a DISCONNECT just sent, if any (a
    /// WebSocket carries it on as a close code).
    fn close(&mut self, why: Option<ReasonCode>) -> impl Future<Output = ()> + Send;
}

/// The read half of a TLS stream (plain TCP has [`TcpIn`]). Reads ask for room by the size of
/// recent reads, so an idle connection holds a small buffer and a busy one reads in large
/// chunks.
pub struct StreamIn<R> {
    reader: R,
    chunk: usize,
}

const MIN_CHUNK: usize = 512;
const MAX_CHUNK: usize = 64 * 1024;

impl<R> StreamIn<R> {
    pub fn new(reader: R) -> StreamIn<R> {
        StreamIn {
            reader,
            chunk: MIN_CHUNK,
        }
    }
}

impl<R> StreamIn<R> {
    /// The next read's size: doubled after a read that filled it, halved after one that
    /// used less than a quarter.
    fn adapt(&mut self, n: usize, room: usize) {
        if n == room {
            self.chunk = (self.chunk * 2).min(MAX_CHUNK);
        } else if n < self.chunk / 4 {
            self.chunk = (self.chunk / 2).max(MIN_CHUNK);
        }
    }
}

/// The read half of a plain TCP stream: like [`StreamIn`], but an idle connection holds no
/// buffer at all. It waits for the socket to be readable first, and only then makes room.
pub struct TcpIn(StreamIn<OwnedReadHalf>);

impl TcpIn {
    pub fn new(reader: OwnedReadHalf) -> TcpIn {
        TcpIn(StreamIn::new(reader))
    }
}

impl Inbound for TcpIn {
    async fn recv(&mut self, buf: &mut BytesMut) -> Result<usize, RecvError> {
        let inner = &mut self.0;
        loop {
            if buf.is_empty() && buf.capacity() > 0 {
                // Everything read was decoded: the rest of the block goes back now, not when
                // the next bytes come, which for an idle client may be never.
                *buf = BytesMut::new();
            }
            inner.reader.readable().await?;
            buf.reserve(inner.chunk);
            let room = buf.capacity() - buf.len();
            match inner.reader.try_read_buf(buf) {
                Ok(n) => {
                    inner.adapt(n, room);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// The write half of a TCP or TLS stream.
pub struct StreamOut<W>(pub W);

impl<R: AsyncRead + Unpin + Send> Inbound for StreamIn<R> {
    async fn recv(&mut self, buf: &mut BytesMut) -> Result<usize, RecvError> {
        buf.reserve(self.chunk);
        let room = buf.capacity() - buf.len();
        let n = self.reader.read_buf(buf).await?;
        self.adapt(n, room);
        Ok(n)
    }
}

impl<W: AsyncWrite + Unpin + Send + 'static> Outbound for StreamOut<W> {
    async fn send(&mut self, bytes: Bytes) -> io::Result<()> {
        self.0.write_all(&bytes).await?;
        self.0.flush().await
    }

    async fn close(&mut self, _why: Option<ReasonCode>) {
        let _ = self.0.shutdown().await;
    }
}

/// The receiving half of a WebSocket: binary frames are the MQTT byte stream [MQTT-6.0.0-1].
pub struct WsIn(pub SplitStream<WebSocket>);

/// The sending half of a WebSocket: one binary frame per write.
pub struct WsOut(pub SplitSink<WebSocket, WsMessage>);

impl Inbound for WsIn {
    async fn recv(&mut self, buf: &mut BytesMut) -> Result<usize, RecvError> {
        loop {
            match self.0.next().await {
                None | Some(Ok(WsMessage::Close(_))) => return Ok(0),
                Some(Ok(WsMessage::Binary(data))) => {
                    if data.is_empty() {
                        continue;
                    }
                    buf.extend_from_slice(&data);
                    return Ok(data.len());
                }
                Some(Ok(WsMessage::Text(_))) => return Err(RecvError::TextFrame),
                Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => continue,
                Some(Err(e)) => {
                    let e = e.into_inner();
                    return Err(match e.downcast_ref::<tungstenite::Error>() {
                        Some(tungstenite::Error::Capacity(_)) => RecvError::TooLarge,
                        _ => RecvError::Io(io::Error::other(e)),
                    });
                }
            }
        }
    }
}

impl Outbound for WsOut {
    async fn send(&mut self, bytes: Bytes) -> io::Result<()> {
        self.0
            .send(WsMessage::Binary(bytes))
            .await
            .map_err(io::Error::other)
    }

    async fn close(&mut self, why: Option<ReasonCode>) {
        // RFC 6455 7.4.1: 1009 "message too big", 1002 "protocol error", 1000 otherwise.
        let code = match why {
            Some(ReasonCode::PacketTooLarge) => 1009,
            Some(ReasonCode::MalformedPacket | ReasonCode::ProtocolError) => 1002,
            _ => 1000,
        };
        let frame = CloseFrame {
            code,
            reason: "".into(),
        };
        let _ = self.0.send(WsMessage::Close(Some(frame))).await;
        let _ = self.0.close().await;
    }
}
