//! Framing: turning a byte stream into packets and packets into bytes.
//!
//! [`Decoder::decode`] reads the fixed header and the remaining length first, refuses a packet
//! over the maximum size before buffering its body, and returns `Ok(None)` until a whole packet
//! is there. A WebSocket frame or TCP read may hold part of a packet or several: call `decode`
//! in a loop until it returns `Ok(None)`.

use bytes::{Buf, BytesMut};

use crate::{
    DecodeError, EncodeError,
    packet::*,
    wire::{Counter, Reader, Sink, Writer, read_varint},
};

/// The largest packet MQTT can express: 1 + 4 header bytes and 268,435,455 body bytes.
pub const MAX_PACKET_SIZE: u32 = 268_435_460;

/// The most a decoder reserves ahead for a packet that has not fully arrived.
const READ_AHEAD: usize = 64 * 1024;

/// A stream decoder for one connection.
#[derive(Debug, Clone)]
pub struct Decoder {
    version: Option<ProtocolVersion>,
    max_packet_size: u32,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder {
            version: None,
            max_packet_size: MAX_PACKET_SIZE,
        }
    }
}

impl Decoder {
    /// A decoder that refuses packets larger than `max_packet_size` bytes in total.
    pub fn new(max_packet_size: u32) -> Decoder {
        Decoder {
            version: None,
            max_packet_size,
        }
    }

    /// Sets the protocol version for the packets after CONNECT. A server's decoder learns it
    /// from the CONNECT it decodes; a client sets the version it connected with.
    pub fn set_version(&mut self, version: ProtocolVersion) {
        self.version = Some(version);
    }

    /// The version in use: the one set or learned, MQTT 5 until then.
    pub fn version(&self) -> ProtocolVersion {
        self.version.unwrap_or_default()
    }

    pub fn set_max_packet_size(&mut self, max: u32) {
        self.max_packet_size = max;
    }

    /// Takes the next whole packet off the front of `buf`; `Ok(None)` when more bytes are
    /// needed. After an error the stream cannot be resynchronised: close the connection.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Packet>, DecodeError> {
        let Some(&first) = buf.first() else {
            return Ok(None);
        };
        let Some((remaining, len_bytes)) = read_varint(&buf[1..])? else {
            return Ok(None);
        };
        let header_len = 1 + len_bytes;
        let total = header_len + remaining as usize;
        if total > self.max_packet_size as usize {
            return Err(DecodeError::PacketTooLarge {
                size: total,
                max: self.max_packet_size,
            });
        }
        if buf.len() < total {
            // Room for the next reads, but not more than READ_AHEAD: a peer announcing a large
            // packet must send its bytes before it gets the memory.
            buf.reserve((total - buf.len()).min(READ_AHEAD));
            return Ok(None);
        }
        let mut frame = buf.split_to(total);
        frame.advance(header_len);
        let mut r = Reader::new(frame.freeze());
        let packet = self.decode_body(first, &mut r)?;
        if let Packet::Connect(c) = &packet {
            self.version = Some(c.protocol);
        }
        Ok(Some(packet))
    }

    #[inline(always)]
    fn decode_body(&self, first: u8, r: &mut Reader) -> Result<Packet, DecodeError> {
        let packet_type = PacketType::from_nibble(first >> 4)?;
        let flags = first & 0x0F;
        let version = self.version();
        if packet_type != PacketType::Publish && flags != packet_type.required_flags() {
            return Err(DecodeError::InvalidFlags {
                packet: packet_type,
                flags,
            });
        }
        let packet = match packet_type {
            #[cfg(feature = "server")]
            PacketType::Connect => Packet::Connect(Box::new(Connect::read(r)?)),
            PacketType::ConnAck => Packet::ConnAck(ConnAck::read(r, version)?),
            PacketType::Publish => Packet::Publish(Publish::read(flags, r, version)?),
            PacketType::PubAck => Packet::PubAck(Ack::read(packet_type, r, version)?),
            PacketType::PubRec => Packet::PubRec(Ack::read(packet_type, r, version)?),
            PacketType::PubRel => Packet::PubRel(Ack::read(packet_type, r, version)?),
            PacketType::PubComp => Packet::PubComp(Ack::read(packet_type, r, version)?),
            #[cfg(feature = "server")]
            PacketType::Subscribe => Packet::Subscribe(Subscribe::read(r, version)?),
            PacketType::SubAck => Packet::SubAck(SubAck::read(r, version)?),
            #[cfg(feature = "server")]
            PacketType::Unsubscribe => Packet::Unsubscribe(Unsubscribe::read(r, version)?),
            PacketType::UnsubAck => Packet::UnsubAck(UnsubAck::read(r, version)?),
            PacketType::PingReq => Packet::PingReq,
            PacketType::PingResp => Packet::PingResp,
            PacketType::Disconnect => Packet::Disconnect(Disconnect::read(r, version)?),
            PacketType::Auth if version.is_v5() => Packet::Auth(Auth::read(r)?),
            PacketType::Auth => return Err(DecodeError::InvalidPacketType(15)),
            // A client build reads only what a server sends.
            #[cfg(not(feature = "server"))]
            PacketType::Connect | PacketType::Subscribe | PacketType::Unsubscribe => {
                return Err(DecodeError::InvalidPacketType(packet_type as u8));
            }
        };
        // Every packet ends where its remaining length says; the readers leave the check here.
        r.finish()?;
        Ok(packet)
    }
}

fn first_byte(packet: &Packet) -> u8 {
    match packet {
        Packet::Publish(p) => p.first_byte(),
        other => ((other.packet_type() as u8) << 4) | other.packet_type().required_flags(),
    }
}

#[cfg_attr(feature = "server", inline(always))]
fn write_body<S: Sink>(packet: &Packet, s: &mut S, version: ProtocolVersion) {
    match packet {
        Packet::Connect(c) => c.write(s),
        #[cfg(feature = "server")]
        Packet::ConnAck(c) => c.write(s, version),
        Packet::Publish(p) => p.write(s, version),
        Packet::PubAck(a) | Packet::PubRec(a) | Packet::PubRel(a) | Packet::PubComp(a) => {
            a.write(s, version)
        }
        Packet::Subscribe(p) => p.write(s, version),
        #[cfg(feature = "server")]
        Packet::SubAck(p) => p.write(s, version),
        Packet::Unsubscribe(p) => p.write(s, version),
        #[cfg(feature = "server")]
        Packet::UnsubAck(p) => p.write(s, version),
        Packet::PingReq | Packet::PingResp => {}
        Packet::Disconnect(d) => d.write(s, version),
        Packet::Auth(_) if !version.is_v5() => s.fail(EncodeError::NotInVersion(PacketType::Auth)),
        Packet::Auth(a) => a.write(s),
        // A client build writes only what a client sends.
        #[cfg(not(feature = "server"))]
        Packet::ConnAck(_) | Packet::SubAck(_) | Packet::UnsubAck(_) => {
            s.fail(EncodeError::ServerOnly(packet.packet_type()))
        }
    }
}

/// The total encoded size of `packet`, to compare with a peer's Maximum Packet Size: the
/// encoder's walk over the packet, counting instead of writing (no buffer, no copy).
pub fn encoded_len(packet: &Packet, version: ProtocolVersion) -> Result<usize, EncodeError> {
    let mut counter = Counter::default();
    write_body(packet, &mut counter, version);
    let payload = match packet {
        Packet::Publish(p) => p.payload.len(),
        _ => 0,
    };
    counter.packet_len(payload)
}

impl Publish {
    /// [`encoded_len`] of this PUBLISH, without moving it into a [`Packet`].
    pub fn encoded_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        let mut counter = Counter::default();
        self.write(&mut counter, version);
        counter.packet_len(self.payload.len())
    }
}

/// Appends `packet` to `buf`. CONNECT is written in its own `protocol` version; every other
/// packet in `version`. On error nothing is appended.
pub fn encode(
    packet: &Packet,
    version: ProtocolVersion,
    buf: &mut BytesMut,
) -> Result<(), EncodeError> {
    match packet {
        // The hot path, without the dispatch of `first_byte` and `write_body`. The head hint is
        // the topic, the packet id and a typical property section.
        Packet::Publish(p) => {
            write_packet(buf, p.first_byte(), p.topic.len() + 32, &p.payload, |w| {
                p.write(w, version)
            })
        }
        _ => write_packet(buf, first_byte(packet), 0, &[], |w| {
            write_body(packet, w, version)
        }),
    }
}

/// Writes the fixed header, what `head` writes and then `payload`: a PUBLISH payload is
/// appended once the remaining length is final, so it is never moved.
///
/// The server build inlines this, the PUBLISH writer and its property writers into `encode`,
/// so that the writer's pointers stay in registers instead of memory (with the writer's
/// changes of the same day, 679 -> 564 instructions per PUBLISH by
/// `scripts/bench-instructions.sh`). The page build leaves inlining to the size-optimising
/// compiler.
#[cfg_attr(feature = "server", inline(always))]
fn write_packet(
    buf: &mut BytesMut,
    first_byte: u8,
    head_hint: usize,
    payload: &[u8],
    head: impl FnOnce(&mut Writer),
) -> Result<(), EncodeError> {
    let start = buf.len();
    let room = payload.len() + ROOM_FOR_HEADERS;
    if buf.capacity() == 0 {
        // A fresh buffer: allocate once, cheaper than growing an empty BytesMut.
        *buf = BytesMut::with_capacity(room);
    } else {
        buf.reserve(room);
    }
    let mut w = Writer::new(buf);
    w.put_u8(first_byte);
    let body = w.open_prefixed(head_hint + payload.len());
    head(&mut w);
    w.close_prefixed(body, payload.len());
    w.put_slice(payload);
    match w.error() {
        None => Ok(()),
        Some(e) => {
            buf.truncate(start);
            Err(e)
        }
    }
}

/// Room reserved for everything but a PUBLISH payload; more is allocated if a packet needs it.
const ROOM_FOR_HEADERS: usize = 128;
