//! A connection's writer task: encodes what the broker queued, batching whatever is ready into
//! one write, with server-to-client topic aliases within the client's Topic Alias Maximum.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::BytesMut;
use prometheus_client::metrics::counter::Counter;
use pubzub_core::{
    Disconnect, OutgoingAliases, Packet, ProtocolVersion, Publish, ReasonCode, encode,
};
use tokio::sync::oneshot;

use crate::broker::Outgoing;
use crate::metrics::{Latency, LatencyTally};
use crate::outbox::OutboxRx;
use crate::transport::Outbound;

/// Bytes gathered into one write when several packets are ready.
const WRITE_BATCH: usize = 64 * 1024;

/// What the writer counts: bytes for its listener, messages and their latency for its site.
pub(crate) struct WriterMetrics {
    pub bytes_out: Counter,
    pub messages_out: Counter,
    pub latency: Latency,
}

/// One connection's encoder state.
pub(crate) struct Writer {
    pub version: ProtocolVersion,
    /// Topic aliases this connection has given out (v5 clients that take them).
    pub aliases: OutgoingAliases,
    /// The client's Topic Alias Maximum (0: none) [MQTT-3.1.2-26].
    pub topic_alias_maximum: u16,
    /// The client's Maximum Packet Size: a new alias must not push a PUBLISH over it.
    pub max_packet_size: usize,
    pub metrics: WriterMetrics,
}

impl Writer {
    /// Writes what the broker queues until `Outgoing::Close`, a write error, or every sender
    /// gone; `done` tells the reader.
    pub(crate) async fn run<O: Outbound>(
        mut self,
        mut rx: OutboxRx,
        mut out: O,
        done: oneshot::Sender<()>,
    ) {
        let mut buf = BytesMut::new();
        let mut why = None;
        'write: while let Some(mut batch) = rx.next_batch().await {
            // One clock read per batch for the latency of all its deliveries.
            let now = Instant::now();
            loop {
                let closing = self.encode_some(&mut batch, &mut buf, now);
                if !buf.is_empty() {
                    let bytes = buf.split().freeze();
                    self.metrics.bytes_out.inc_by(bytes.len() as u64);
                    if out.send(bytes).await.is_err() {
                        break 'write;
                    }
                }
                if let Some(code) = closing {
                    why = code;
                    break 'write;
                }
                if batch.is_empty() {
                    break;
                }
            }
            // An idle connection keeps no write buffer.
            buf = BytesMut::new();
        }
        out.close(why).await;
        drop(done);
    }

    /// Encodes items of `batch` until it is empty, `buf` holds a write's worth, or an item
    /// closes the connection (`Some(reason)`). The messages' count and latency go to the
    /// shared metrics once for all of them: a writer behind a fan-in takes thousands at once.
    fn encode_some(
        &mut self,
        batch: &mut VecDeque<Outgoing>,
        buf: &mut BytesMut,
        now: Instant,
    ) -> Option<Option<ReasonCode>> {
        let mut tally = LatencyTally::default();
        let mut closing = None;
        while let Some(item) = batch.pop_front() {
            closing = self.encode(item, buf, now, &mut tally);
            if closing.is_some() || buf.len() >= WRITE_BATCH {
                break;
            }
        }
        self.metrics.messages_out.inc_by(tally.count());
        self.metrics.latency.add(&tally);
        closing
    }

    /// Appends one outgoing item; `Some(reason)` when it closes the connection.
    fn encode(
        &mut self,
        item: Outgoing,
        buf: &mut BytesMut,
        now: Instant,
        tally: &mut LatencyTally,
    ) -> Option<Option<ReasonCode>> {
        let packet = match item {
            Outgoing::Packet(p) => *p,
            Outgoing::Publish {
                delivery,
                packet_id,
                dup,
                expiry,
            } => {
                tally.observe(now.saturating_duration_since(delivery.message.arrived));
                let own_fields = packet_id.is_some() || expiry.is_some() || self.takes_aliases();
                let plain = match own_fields {
                    true => None,
                    false => delivery.plain_encoding(self.version),
                };
                match plain {
                    Some(bytes) => buf.extend_from_slice(bytes),
                    None => self.write_publish(delivery.into_publish(packet_id, dup, expiry), buf),
                }
                return None;
            }
            Outgoing::Close(code) => match code {
                Some(code) if self.version.is_v5() => {
                    write(
                        &Packet::Disconnect(Disconnect::new(code)),
                        self.version,
                        buf,
                    );
                    return Some(Some(code));
                }
                _ => return Some(code),
            },
        };
        write(&packet, self.version, buf);
        None
    }

    /// Whether PUBLISHes to this client may get topic aliases.
    fn takes_aliases(&self) -> bool {
        self.version.is_v5() && self.topic_alias_maximum > 0
    }

    /// A PUBLISH, with a topic alias where the client takes them. A new alias is kept only
    /// when its packet stays within the client's Maximum Packet Size (the broker checked the
    /// size without it); otherwise the packet goes without one and leaves no trace.
    fn write_publish(&mut self, mut publish: Publish, buf: &mut BytesMut) {
        let new = if self.takes_aliases() {
            self.aliases.apply(&mut publish, self.topic_alias_maximum)
        } else {
            None
        };
        let start = buf.len();
        let mut packet = Packet::Publish(publish);
        let written = write(&packet, self.version, buf);
        let Some(new) = new else {
            return;
        };
        if written && buf.len() - start <= self.max_packet_size {
            self.aliases.commit(new);
            return;
        }
        buf.truncate(start);
        if let Packet::Publish(p) = &mut packet {
            p.properties.topic_alias = None;
        }
        write(&packet, self.version, buf);
    }
}

/// Appends `packet`; false (and a warning) when it cannot be encoded.
fn write(packet: &Packet, version: ProtocolVersion, buf: &mut BytesMut) -> bool {
    let result = encode(packet, version, buf);
    if let Err(e) = &result {
        tracing::warn!("dropping an unencodable {:?}: {e}", packet.packet_type());
    }
    result.is_ok()
}
