//! The primitive data types of MQTT [MQTT-1.5]: big-endian integers, variable byte integers,
//! length-prefixed UTF-8 strings and binary data.
//!
//! Reading slices the packet's shared buffer (no copies). Writing goes through [`Sink`], which
//! has two implementations: [`Counter`] measures and validates a packet, then [`Writer`]
//! appends the bytes. Encoding runs the same code for both, so the length can never disagree
//! with what is written; the lengths of property sections, which precede their contents, are
//! measured once by the counter and handed to the writer.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::{ByteStr, DecodeError, EncodeError};

/// Largest value a variable byte integer can hold [MQTT-1.5.5].
pub(crate) const VARINT_MAX: usize = 268_435_455;

/// The unread rest of one packet (or of one property section).
pub(crate) struct Reader {
    buf: Bytes,
}

impl Reader {
    pub fn new(buf: Bytes) -> Self {
        Reader { buf }
    }

    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Fails when anything is left: used after a packet's last field.
    pub fn finish(&self) -> Result<(), DecodeError> {
        match self.buf.len() {
            0 => Ok(()),
            n => Err(DecodeError::TrailingBytes(n)),
        }
    }

    fn need(&self, n: usize) -> Result<(), DecodeError> {
        if self.buf.len() < n {
            Err(DecodeError::UnexpectedEnd)
        } else {
            Ok(())
        }
    }

    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        self.need(1)?;
        Ok(self.buf.get_u8())
    }

    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        self.need(2)?;
        Ok(self.buf.get_u16())
    }

    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        self.need(4)?;
        Ok(self.buf.get_u32())
    }

    pub fn varint(&mut self) -> Result<u32, DecodeError> {
        match read_varint(&self.buf)? {
            Some((value, len)) => {
                self.buf.advance(len);
                Ok(value)
            }
            None => Err(DecodeError::UnexpectedEnd),
        }
    }

    /// The next `n` bytes, sharing the buffer.
    pub fn take(&mut self, n: usize) -> Result<Bytes, DecodeError> {
        self.need(n)?;
        Ok(self.buf.split_to(n))
    }

    /// Everything left (a payload).
    pub fn rest(&mut self) -> Bytes {
        std::mem::take(&mut self.buf)
    }

    /// Binary Data: a two-byte length and that many bytes [MQTT-1.5.6].
    pub fn binary(&mut self) -> Result<Bytes, DecodeError> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }

    /// UTF-8 Encoded String [MQTT-1.5.4]: well-formed and without U+0000.
    pub fn string(&mut self) -> Result<ByteStr, DecodeError> {
        let bytes = self.binary()?;
        // Fast path for the usual case, ASCII without NUL: one branch-free (vectorisable) pass
        // instead of a NUL search plus UTF-8 validation.
        let plain_ascii = bytes
            .iter()
            .fold(true, |ok, &b| ok & (b.wrapping_sub(1) < 0x7F));
        if !plain_ascii && bytes.contains(&0) {
            return Err(DecodeError::NullCharacter);
        }
        ByteStr::from_utf8_checked_if(bytes, !plain_ascii).map_err(|_| DecodeError::InvalidUtf8)
    }
}

/// Reads a variable byte integer from the front of `buf`: `Ok(None)` when `buf` ends before
/// the integer does, otherwise the value and the number of bytes it took.
pub(crate) fn read_varint(buf: &[u8]) -> Result<Option<(u32, usize)>, DecodeError> {
    let mut value: u32 = 0;
    for (i, &byte) in buf.iter().enumerate() {
        if i == 4 {
            return Err(DecodeError::MalformedVarInt);
        }
        value |= u32::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(Some((value, i + 1)));
        }
    }
    if buf.len() >= 4 {
        Err(DecodeError::MalformedVarInt)
    } else {
        Ok(None)
    }
}

/// Number of bytes `value` takes as a variable byte integer.
pub(crate) fn varint_len(value: usize) -> usize {
    match value {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

/// Where encoded bytes go.
pub(crate) trait Sink {
    fn put_u8(&mut self, v: u8);
    fn put_slice(&mut self, v: &[u8]);
    /// Records an error; only [`Counter`] keeps it (the writer runs after a clean count).
    fn fail(&mut self, _e: EncodeError) {}

    fn put_u16(&mut self, v: u16) {
        self.put_slice(&v.to_be_bytes());
    }

    fn put_u32(&mut self, v: u32) {
        self.put_slice(&v.to_be_bytes());
    }

    fn put_varint(&mut self, value: usize) {
        if value > VARINT_MAX {
            return self.fail(EncodeError::VarIntTooLarge(value));
        }
        let mut v = value;
        loop {
            let byte = (v & 0x7F) as u8;
            v >>= 7;
            if v == 0 {
                return self.put_u8(byte);
            }
            self.put_u8(byte | 0x80);
        }
    }

    /// Binary Data or the bytes of a UTF-8 string, with its two-byte length.
    fn put_binary(&mut self, v: &[u8]) {
        match u16::try_from(v.len()) {
            Ok(n) => {
                self.put_u16(n);
                self.put_slice(v);
            }
            Err(_) => self.fail(EncodeError::FieldTooLong(v.len())),
        }
    }

    fn put_str(&mut self, v: &str) {
        self.put_binary(v.as_bytes());
    }

    /// A length-prefixed section (a property set): its length as a variable byte integer,
    /// then what `items` writes.
    fn put_section(&mut self, items: impl Fn(&mut Self));
}

/// The most length-prefixed sections one packet has: CONNECT's properties and its will's.
const MAX_SECTIONS: usize = 2;

/// Measures what would be written, keeps the first error, and records section lengths.
#[derive(Default)]
pub(crate) struct Counter {
    pub len: usize,
    pub error: Option<EncodeError>,
    sections: [usize; MAX_SECTIONS],
    section_count: usize,
}

/// The measurements of one packet body, for [`Writer`].
pub(crate) struct Measured {
    pub len: usize,
    sections: [usize; MAX_SECTIONS],
}

impl Counter {
    /// Runs `write` against a fresh counter.
    pub fn measure(write: impl FnOnce(&mut Counter)) -> Result<Measured, EncodeError> {
        let mut c = Counter::default();
        write(&mut c);
        match c.error {
            Some(e) => Err(e),
            None => Ok(Measured {
                len: c.len,
                sections: c.sections,
            }),
        }
    }
}

impl Sink for Counter {
    fn put_u8(&mut self, _: u8) {
        self.len += 1;
    }
    fn put_slice(&mut self, v: &[u8]) {
        self.len += v.len();
    }
    fn put_u16(&mut self, _: u16) {
        self.len += 2;
    }
    fn put_u32(&mut self, _: u32) {
        self.len += 4;
    }
    fn put_varint(&mut self, value: usize) {
        if value > VARINT_MAX {
            self.fail(EncodeError::VarIntTooLarge(value));
        }
        self.len += varint_len(value);
    }
    fn fail(&mut self, e: EncodeError) {
        self.error.get_or_insert(e);
    }
    fn put_section(&mut self, items: impl Fn(&mut Self)) {
        let before = self.len;
        items(self);
        let len = self.len - before;
        // Packets have at most MAX_SECTIONS sections, so the slot always exists.
        if let Some(slot) = self.sections.get_mut(self.section_count) {
            *slot = len;
        }
        self.section_count += 1;
        self.put_varint(len);
    }
}

/// Appends a measured packet to a buffer that already has room for all of it.
pub(crate) struct Writer<'a> {
    buf: &'a mut BytesMut,
    sections: [usize; MAX_SECTIONS],
    next_section: usize,
}

impl<'a> Writer<'a> {
    pub fn new(buf: &'a mut BytesMut, measured: &Measured) -> Self {
        Writer {
            buf,
            sections: measured.sections,
            next_section: 0,
        }
    }
}

impl Sink for Writer<'_> {
    fn put_u8(&mut self, v: u8) {
        self.buf.put_u8(v);
    }
    fn put_slice(&mut self, v: &[u8]) {
        self.buf.extend_from_slice(v);
    }
    fn put_u16(&mut self, v: u16) {
        self.buf.put_u16(v);
    }
    fn put_u32(&mut self, v: u32) {
        self.buf.put_u32(v);
    }
    fn put_section(&mut self, items: impl Fn(&mut Self)) {
        let len = self
            .sections
            .get(self.next_section)
            .copied()
            .unwrap_or_default();
        self.next_section += 1;
        self.put_varint(len);
        items(self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_boundaries_from_the_spec() {
        // Table 1-1 of MQTT v5 [MQTT-1.5.5].
        let cases: [(usize, &[u8]); 8] = [
            (0, &[0x00]),
            (127, &[0x7F]),
            (128, &[0x80, 0x01]),
            (16_383, &[0xFF, 0x7F]),
            (16_384, &[0x80, 0x80, 0x01]),
            (2_097_151, &[0xFF, 0xFF, 0x7F]),
            (2_097_152, &[0x80, 0x80, 0x80, 0x01]),
            (268_435_455, &[0xFF, 0xFF, 0xFF, 0x7F]),
        ];
        for (value, bytes) in cases {
            let mut out = BytesMut::new();
            Writer::new(
                &mut out,
                &Measured {
                    len: 0,
                    sections: [0; MAX_SECTIONS],
                },
            )
            .put_varint(value);
            assert_eq!(&out[..], bytes, "{value}");
            assert_eq!(varint_len(value), bytes.len());
            assert_eq!(read_varint(bytes), Ok(Some((value as u32, bytes.len()))));
        }
    }

    #[test]
    fn varint_too_long_or_short() {
        assert_eq!(
            read_varint(&[0x80, 0x80, 0x80, 0x80, 0x01]),
            Err(DecodeError::MalformedVarInt)
        );
        assert_eq!(
            read_varint(&[0xFF, 0xFF, 0xFF, 0xFF]),
            Err(DecodeError::MalformedVarInt)
        );
        assert_eq!(read_varint(&[0x80, 0x80]), Ok(None));
        assert_eq!(read_varint(&[]), Ok(None));
        assert_eq!(
            Counter::measure(|c| c.put_varint(VARINT_MAX + 1)).err(),
            Some(EncodeError::VarIntTooLarge(VARINT_MAX + 1))
        );
    }

    #[test]
    fn strings_reject_nul_and_bad_utf8() {
        let mut r = Reader::new(Bytes::from_static(&[0, 2, b'a', 0]));
        assert_eq!(r.string(), Err(DecodeError::NullCharacter));
        let mut r = Reader::new(Bytes::from_static(&[0, 2, 0xC3, 0x28]));
        assert_eq!(r.string(), Err(DecodeError::InvalidUtf8));
        // A surrogate half encoded in UTF-8 (U+D800) is not well-formed [MQTT-1.5.4-1].
        let mut r = Reader::new(Bytes::from_static(&[0, 3, 0xED, 0xA0, 0x80]));
        assert_eq!(r.string(), Err(DecodeError::InvalidUtf8));
        let mut r = Reader::new(Bytes::from_static(&[0, 5, b'a']));
        assert_eq!(r.string(), Err(DecodeError::UnexpectedEnd));
        // U+FEFF is kept, not stripped [MQTT-1.5.4-3].
        let mut r = Reader::new(Bytes::from_static(&[0, 4, 0xEF, 0xBB, 0xBF, b'a']));
        assert_eq!(r.string().unwrap(), "\u{FEFF}a");
    }

    #[test]
    fn long_fields_are_refused() {
        let long = vec![b'x'; 70_000];
        assert_eq!(
            Counter::measure(|c| c.put_binary(&long)).err(),
            Some(EncodeError::FieldTooLong(70_000))
        );
    }
}
