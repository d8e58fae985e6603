//! The byte pipes a connection runs over: a TCP or TLS stream, or a WebSocket carrying binary
//! frames. The connection handler sees only [`Inbound`] and [`Outbound`], so all three share it.

use std::io;

use axum::extract::ws::{Message as WsMessage, WebSocket};
use bytes::{Bytes, BytesMut};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Bytes from the client, in whatever pieces they arrive.
pub trait Inbound: Send {
    /// Appends what arrived to `buf`; `Ok(0)` at the end of the stream.
    fn recv(&mut self, buf: &mut BytesMut) -> impl Future<Output = io::Result<usize>> + Send;
}

/// Bytes to the client.
pub trait Outbound: Send + 'static {
    fn send(&mut self, bytes: Bytes) -> impl Future<Output = io::Result<()>> + Send;
    fn close(&mut self) -> impl Future<Output = ()> + Send;
}

/// The read half of a TCP or TLS stream. Reads ask for room by the size of recent reads, so an
/// idle connection holds a small buffer and a busy one reads in large chunks.
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

/// The write half of a TCP or TLS stream.
pub struct StreamOut<W>(pub W);

impl<R: AsyncRead + Unpin + Send> Inbound for StreamIn<R> {
    async fn recv(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        buf.reserve(self.chunk);
        let room = buf.capacity() - buf.len();
        let n = self.reader.read_buf(buf).await?;
        if n == room {
            self.chunk = (self.chunk * 2).min(MAX_CHUNK);
        } else if n < self.chunk / 4 {
            self.chunk = (self.chunk / 2).max(MIN_CHUNK);
        }
        Ok(n)
    }
}

impl<W: AsyncWrite + Unpin + Send + 'static> Outbound for StreamOut<W> {
    async fn send(&mut self, bytes: Bytes) -> io::Result<()> {
        self.0.write_all(&bytes).await?;
        self.0.flush().await
    }

    async fn close(&mut self) {
        let _ = self.0.shutdown().await;
    }
}

/// The receiving half of a WebSocket: binary frames are the MQTT byte stream [MQTT-6.0.0-1].
pub struct WsIn(pub SplitStream<WebSocket>);

/// The sending half of a WebSocket: one binary frame per write.
pub struct WsOut(pub SplitSink<WebSocket, WsMessage>);

impl Inbound for WsIn {
    async fn recv(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
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
                Some(Ok(WsMessage::Text(_))) => {
                    // [MQTT-6.0.0-1]: a text frame closes the connection.
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "text frame on the MQTT WebSocket",
                    ));
                }
                Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => continue,
                Some(Err(e)) => return Err(io::Error::other(e)),
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

    async fn close(&mut self) {
        let _ = self.0.close().await;
    }
}
