//! The primitive data types of MQTT [MQTT-1.5]: big-endian integers, variable byte integers,
//! length-prefixed UTF-8 strings and binary data.
//!
//! Reading slices the packet's shared buffer (no copies). Writing goes through [`Sink`] into a
//! [`Writer`] in one pass: a length that precedes what it measures (the remaining length, a
//! property length) is written as a one-byte placeholder and patched afterwards, widened in
//! the rare case the section reaches 128 bytes. A PUBLISH payload is appended only after the
//! remaining length is final, so it is never moved.

use bytes::{Buf, Bytes, BytesMut};

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
        // Fast path for the usual case, ASCII without NUL: one pass instead of a NUL search
        // plus UTF-8 validation.
        let plain_ascii = is_plain_ascii(&bytes);
        if !plain_ascii && bytes.contains(&0) {
            return Err(DecodeError::NullCharacter);
        }
        ByteStr::from_utf8_checked_if(bytes, !plain_ascii).map_err(|_| DecodeError::InvalidUtf8)
    }
}

/// Whether `bytes` are all ASCII and none is NUL: eight bytes per step (a byte with its high bit
/// set, or one that is zero, sets its high bit in `x | (x - 0x01..01) & !x`).
fn is_plain_ascii(bytes: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    let mut chunks = bytes.chunks_exact(8);
    let mut bad = 0;
    for chunk in &mut chunks {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_ne_bytes(word);
        bad |= (x | (x.wrapping_sub(ONES) & !x)) & HIGH;
    }
    bad == 0 && chunks.remainder().iter().all(|&b| b.wrapping_sub(1) < 0x7F)
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
    /// Records the first error; the encoder then discards what was written.
    fn fail(&mut self, e: EncodeError);

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

    /// A section prefixed by its length as a variable byte integer (a property set), then what
    /// `items` writes.
    fn put_section(&mut self, items: impl FnOnce(&mut Self));
}

/// Appends encoded bytes to a buffer.
///
/// It writes into the buffer's spare capacity through its own length and commits that length
/// when it grows the buffer and when it is dropped: one capacity check per write instead of
/// `BytesMut`'s check, copy and length update.
pub(crate) struct Writer<'a> {
    buf: &'a mut BytesMut,
    /// The buffer's length including what is written but not yet committed.
    len: usize,
    error: Option<EncodeError>,
}

impl<'a> Writer<'a> {
    pub fn new(buf: &'a mut BytesMut) -> Self {
        let len = buf.len();
        Writer {
            buf,
            len,
            error: None,
        }
    }

    /// The first error, if any.
    pub fn error(mut self) -> Option<EncodeError> {
        self.error.take()
    }

    /// Writes what `head` writes prefixed by the length of it plus `tail`, then `tail`: the
    /// remaining length of a packet whose payload is `tail`. `head_hint` is a guess at the
    /// head's length, used to reserve the length field's width up front.
    pub fn put_prefixed(&mut self, head_hint: usize, head: impl FnOnce(&mut Self), tail: &[u8]) {
        let at = self.len;
        let reserved = varint_len(head_hint + tail.len());
        // Placeholder bytes: one four-byte store, of which `reserved` count.
        let at_ptr = self.room(4);
        // SAFETY: `room` returned space for four bytes.
        unsafe { at_ptr.cast::<[u8; 4]>().write_unaligned([0; 4]) };
        self.len += reserved;
        head(self);
        let head_len = self.len - at - reserved;
        self.patch_length(at, reserved, head_len, head_len + tail.len());
        self.put_slice(tail);
    }

    /// A pointer to `n` bytes of spare capacity at the end of what is written.
    #[inline]
    fn room(&mut self, n: usize) -> *mut u8 {
        if self.buf.capacity() - self.len < n {
            self.grow(n);
        }
        // SAFETY: `len <= capacity` always holds, and the check above (or `grow`) leaves `n`
        // bytes of capacity after `len`.
        unsafe { self.buf.as_mut_ptr().add(self.len) }
    }

    #[cold]
    fn grow(&mut self, n: usize) {
        self.commit();
        self.buf.reserve(n);
    }

    /// Makes the bytes written so far part of the buffer.
    fn commit(&mut self) {
        // SAFETY: every byte below `len` has been written by this writer or was there before.
        unsafe { self.buf.set_len(self.len) }
    }

    /// Writes `len` as a variable byte integer at `at`, where `reserved` placeholder bytes
    /// precede the `moved` bytes written after them.
    #[inline]
    fn patch_length(&mut self, at: usize, reserved: usize, moved: usize, len: usize) {
        if len > VARINT_MAX {
            return self.fail(EncodeError::VarIntTooLarge(len));
        }
        let width = varint_len(len);
        if width != reserved {
            self.resize_field(at, reserved, moved, width);
        }
        let mut v = len;
        for i in 0..width {
            let more = if i + 1 < width { 0x80 } else { 0 };
            assert!(at + i < self.len);
            // SAFETY: inside what has been written (checked above).
            unsafe { *self.buf.as_mut_ptr().add(at + i) = (v & 0x7F) as u8 | more };
            v >>= 7;
        }
    }

    /// Gives a length field another width by shifting the `moved` bytes after it (rare: the
    /// reservation is a good guess).
    #[cold]
    fn resize_field(&mut self, at: usize, reserved: usize, moved: usize, width: usize) {
        self.commit();
        let body = at + reserved..at + reserved + moved;
        if width > reserved {
            self.buf.resize(body.end + width - reserved, 0);
            self.buf.copy_within(body, at + width);
        } else {
            self.buf.copy_within(body.clone(), at + width);
            self.buf.truncate(body.end - (reserved - width));
        }
        self.len = self.buf.len();
    }
}

impl Drop for Writer<'_> {
    fn drop(&mut self) {
        self.commit();
    }
}

impl Sink for Writer<'_> {
    #[inline]
    fn put_u8(&mut self, v: u8) {
        let at = self.room(1);
        // SAFETY: `room` returned space for one byte.
        unsafe { at.write(v) };
        self.len += 1;
    }
    #[inline]
    fn put_slice(&mut self, v: &[u8]) {
        let at = self.room(v.len());
        // SAFETY: `room` returned space for `v.len()` bytes, and `v` cannot overlap the
        // spare capacity that `self` borrows mutably.
        unsafe { std::ptr::copy_nonoverlapping(v.as_ptr(), at, v.len()) };
        self.len += v.len();
    }
    /// One capacity check for the length and the bytes.
    #[inline]
    fn put_binary(&mut self, v: &[u8]) {
        let Ok(n) = u16::try_from(v.len()) else {
            return self.fail(EncodeError::FieldTooLong(v.len()));
        };
        let at = self.room(2 + v.len());
        // SAFETY: `room` returned space for the two length bytes and `v`, which cannot overlap
        // the spare capacity that `self` borrows mutably.
        unsafe {
            at.cast::<[u8; 2]>().write_unaligned(n.to_be_bytes());
            std::ptr::copy_nonoverlapping(v.as_ptr(), at.add(2), v.len());
        }
        self.len += 2 + v.len();
    }
    fn fail(&mut self, e: EncodeError) {
        self.error.get_or_insert(e);
    }
    fn put_section(&mut self, items: impl FnOnce(&mut Self)) {
        // Property sections are short: one byte for the length is the usual width.
        let at = self.len;
        self.put_u8(0);
        items(self);
        let len = self.len - at - 1;
        self.patch_length(at, 1, len, len);
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
            Writer::new(&mut out).put_varint(value);
            assert_eq!(&out[..], bytes, "{value}");
            // The same value as a patched section length, widening over a filler body.
            let mut out = BytesMut::new();
            Writer::new(&mut out).put_prefixed(0, |_| {}, &vec![7; value.min(20_000)]);
            if value <= 20_000 {
                assert_eq!(&out[..bytes.len()], bytes, "{value}");
                assert_eq!(out.len(), bytes.len() + value);
            }
            assert_eq!(varint_len(value), bytes.len());
            assert_eq!(read_varint(bytes), Ok(Some((value as u32, bytes.len()))));
        }
    }

    #[test]
    fn length_fields_widen_and_narrow() {
        // Guessed one byte, needs two: the head moves right.
        let mut out = BytesMut::new();
        Writer::new(&mut out).put_prefixed(0, |w| w.put_slice(&[1; 50]), &[2; 100]);
        assert_eq!(&out[..2], &[0x96, 0x01]); // 150
        assert_eq!(
            (&out[2..52], &out[52..], out.len()),
            (&[1; 50][..], &[2; 100][..], 152)
        );
        // Guessed two bytes, needs one: the head moves left.
        let mut out = BytesMut::new();
        Writer::new(&mut out).put_prefixed(200, |w| w.put_slice(&[1; 10]), &[]);
        assert_eq!(&out[..], &[&[10u8][..], &[1; 10][..]].concat()[..]);
        // A property section of 200 bytes after other bytes.
        let mut out = BytesMut::from(&b"xy"[..]);
        Writer::new(&mut out).put_section(|w| w.put_slice(&[3; 200]));
        assert_eq!(&out[..4], &[b'x', b'y', 0xC8, 0x01]);
        assert_eq!(out.len(), 204);
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
        let mut out = BytesMut::new();
        let mut w = Writer::new(&mut out);
        w.put_varint(VARINT_MAX + 1);
        assert_eq!(w.error(), Some(EncodeError::VarIntTooLarge(VARINT_MAX + 1)));
    }

    #[test]
    fn plain_ascii_is_found_in_whole_words_and_in_the_tail() {
        let text = b"sensors/building-7/floor-3/temperature";
        assert!(is_plain_ascii(text) && is_plain_ascii(b""));
        // Every position, so that both the eight-byte steps and the tail see each bad byte.
        for at in 0..text.len() {
            for bad in [0x00, 0x80, 0xC3, 0xFF] {
                let mut t = text.to_vec();
                t[at] = bad;
                assert!(!is_plain_ascii(&t), "byte {bad:#x} at {at}");
            }
            let mut t = text.to_vec();
            t[at] = 0x7F; // DEL is ASCII and allowed
            assert!(is_plain_ascii(&t));
        }
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
        let mut out = BytesMut::new();
        let mut w = Writer::new(&mut out);
        w.put_binary(&long);
        assert_eq!(w.error(), Some(EncodeError::FieldTooLong(70_000)));
    }
}
