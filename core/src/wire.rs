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

    #[inline]
    pub fn varint(&mut self) -> Result<u32, DecodeError> {
        // One byte, the usual case: property identifiers and short property lengths.
        if let Some(&byte) = self.buf.first()
            && byte < 0x80
        {
            self.buf.advance(1);
            return Ok(u32::from(byte));
        }
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
    #[cfg_attr(feature = "server", inline(always))]
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

/// `value` as a variable byte integer: its bytes, of which the first `n` count, and `n`.
fn varint_bytes(value: usize) -> Result<([u8; 4], usize), EncodeError> {
    if value > VARINT_MAX {
        return Err(EncodeError::VarIntTooLarge(value));
    }
    let (mut bytes, mut v, mut n) = ([0; 4], value, 0);
    while v >= 0x80 {
        bytes[n] = v as u8 | 0x80;
        v >>= 7;
        n += 1;
    }
    bytes[n] = v as u8;
    Ok((bytes, n + 1))
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

    fn put_varint(&mut self, value: usize) {
        match varint_bytes(value) {
            Ok((bytes, n)) => self.put_slice(&bytes[..n]),
            Err(e) => self.fail(e),
        }
    }

    /// Binary Data or the bytes of a UTF-8 string, with its two-byte length.
    fn put_binary(&mut self, v: &[u8]);

    fn put_str(&mut self, v: &str) {
        self.put_binary(v.as_bytes());
    }

    /// A byte `tag` (a property identifier), then `v`.
    fn put_tagged(&mut self, tag: u8, v: &[u8]);

    /// A byte `tag`, then `v` as Binary Data (with its two-byte length).
    fn put_tagged_binary(&mut self, tag: u8, v: &[u8]);

    /// Opens a section prefixed by its length as a variable byte integer (a property set);
    /// [`Sink::close_section`] writes the length once the section's items are written.
    fn open_section(&mut self) -> Prefixed;
    fn close_section(&mut self, section: Prefixed);
}

/// A section opened by [`Writer::open_prefixed`]: where its length field is, and how many
/// bytes were reserved for it.
pub(crate) struct Prefixed {
    at: usize,
    reserved: usize,
}

/// Appends encoded bytes to a buffer.
///
/// It writes into the buffer's spare capacity through its own pointers and commits the length
/// when it grows the buffer and when it is dropped: one capacity check per write instead of
/// `BytesMut`'s check, copy and length update. Its rare paths take the buffer, not the
/// writer, so that the compiler can keep the pointers in registers.
pub(crate) struct Writer<'a> {
    buf: &'a mut BytesMut,
    /// The buffer's start, the end of what is written (committed or not) and the end of its
    /// capacity, kept here so that a write needs no look into `buf`; refreshed whenever the
    /// buffer grows. `start <= cur <= end`.
    start: *mut u8,
    cur: *mut u8,
    end: *mut u8,
    error: Option<EncodeError>,
}

impl<'a> Writer<'a> {
    pub fn new(buf: &'a mut BytesMut) -> Self {
        let (start, cur, end) = pointers(buf);
        Writer {
            buf,
            start,
            cur,
            end,
            error: None,
        }
    }

    /// The buffer's length including what is written but not yet committed.
    #[cfg_attr(feature = "server", inline(always))]
    fn len(&self) -> usize {
        self.cur as usize - self.start as usize
    }

    /// The first error, if any.
    pub fn error(mut self) -> Option<EncodeError> {
        self.error.take()
    }

    /// Opens a section whose length, a variable byte integer, precedes it: writes a
    /// placeholder `hint_len` wide (the width of the length it expects) and returns where the
    /// section starts, for [`Writer::close_prefixed`].
    #[cfg_attr(feature = "server", inline(always))]
    pub fn open_prefixed(&mut self, hint_len: usize) -> Prefixed {
        let at = self.len();
        let reserved = varint_len(hint_len);
        // Placeholder bytes: one four-byte store, of which `reserved` count.
        self.room(4);
        // SAFETY: `room` made space for four bytes at `cur`.
        unsafe {
            self.cur.cast::<[u8; 4]>().write_unaligned([0; 4]);
            self.cur = self.cur.add(reserved);
        }
        Prefixed { at, reserved }
    }

    /// Patches the length of the section opened as `p`, counting `tail_len` bytes to be
    /// written after it (a payload) as part of it.
    #[cfg_attr(feature = "server", inline(always))]
    pub fn close_prefixed(&mut self, p: Prefixed, tail_len: usize) {
        let head_len = self.len() - p.at - p.reserved;
        self.patch_length(p.at, p.reserved, head_len, head_len + tail_len);
    }

    /// Makes sure `n` bytes of spare capacity follow `cur`.
    #[cfg_attr(feature = "server", inline(always))]
    fn room(&mut self, n: usize) {
        if (self.end as usize - self.cur as usize) < n {
            (self.start, self.cur, self.end) = grow(self.buf, self.len(), n);
        }
    }

    /// Writes `v` at `cur` and moves past it.
    ///
    /// # Safety
    /// [`Writer::room`] must have made space for `v` since.
    #[cfg_attr(feature = "server", inline(always))]
    unsafe fn put_unchecked(&mut self, v: &[u8]) {
        // SAFETY: the caller made room; `v` cannot overlap the spare capacity that `self`
        // borrows mutably.
        unsafe {
            std::ptr::copy_nonoverlapping(v.as_ptr(), self.cur, v.len());
            self.cur = self.cur.add(v.len());
        }
    }

    /// Makes the bytes written so far part of the buffer.
    fn commit(&mut self) {
        // SAFETY: every byte below `len` has been written by this writer or was there before.
        unsafe { self.buf.set_len(self.len()) }
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
            let written = self.len();
            (self.start, self.cur, self.end) =
                resize_field(self.buf, written, at..at + reserved, moved, width);
        }
        assert!(at + width <= self.len());
        // Written in place rather than through `varint_bytes`, which measured 564 -> 633
        // instructions per PUBLISH encode.
        // SAFETY: the `width` bytes from `at` are inside what has been written (checked above).
        let field = unsafe { self.start.add(at) };
        let (mut v, mut i) = (len, 0);
        while v >= 0x80 {
            // SAFETY: as above; `i < width - 1` while more than seven bits are left.
            unsafe { field.add(i).write(v as u8 | 0x80) };
            v >>= 7;
            i += 1;
        }
        // SAFETY: as above; `i == width - 1`.
        unsafe { field.add(i).write(v as u8) };
    }
}

/// A buffer's start, the end of its bytes and the end of its capacity.
fn pointers(buf: &mut BytesMut) -> (*mut u8, *mut u8, *mut u8) {
    let start = buf.as_mut_ptr();
    // SAFETY: a buffer's length and capacity are within its allocation.
    unsafe { (start, start.add(buf.len()), start.add(buf.capacity())) }
}

/// Commits the `len` bytes a writer has written to `buf`, then makes room for `n` more.
#[cold]
fn grow(buf: &mut BytesMut, len: usize, n: usize) -> (*mut u8, *mut u8, *mut u8) {
    // SAFETY: every byte below `len` has been written by the writer or was there before.
    unsafe { buf.set_len(len) };
    buf.reserve(n);
    pointers(buf)
}

/// Commits the `len` bytes a writer has written to `buf`, then gives the length field at
/// `field` another width by shifting the `moved` bytes after it (rare: the reservation is a
/// good guess).
#[cold]
fn resize_field(
    buf: &mut BytesMut,
    len: usize,
    field: std::ops::Range<usize>,
    moved: usize,
    width: usize,
) -> (*mut u8, *mut u8, *mut u8) {
    // SAFETY: as in `grow`.
    unsafe { buf.set_len(len) };
    let (at, reserved) = (field.start, field.len());
    let body = field.end..field.end + moved;
    if width > reserved {
        buf.resize(body.end + width - reserved, 0);
        buf.copy_within(body, at + width);
    } else {
        buf.copy_within(body.clone(), at + width);
        buf.truncate(body.end - (reserved - width));
    }
    pointers(buf)
}

impl Drop for Writer<'_> {
    fn drop(&mut self) {
        self.commit();
    }
}

impl Sink for Writer<'_> {
    #[inline]
    fn put_u8(&mut self, v: u8) {
        self.room(1);
        // SAFETY: `room` made space for one byte.
        unsafe { self.put_unchecked(&[v]) };
    }
    #[inline]
    fn put_slice(&mut self, v: &[u8]) {
        self.room(v.len());
        // SAFETY: `room` made space for `v`.
        unsafe { self.put_unchecked(v) };
    }
    /// One capacity check for the length and the bytes.
    #[inline]
    fn put_binary(&mut self, v: &[u8]) {
        let Ok(n) = u16::try_from(v.len()) else {
            return self.fail(EncodeError::FieldTooLong(v.len()));
        };
        self.room(2 + v.len());
        // SAFETY: `room` made space for the two length bytes and `v`.
        unsafe {
            self.put_unchecked(&n.to_be_bytes());
            self.put_unchecked(v);
        }
    }
    /// One capacity check for the tag and the bytes.
    #[cfg_attr(feature = "server", inline(always))]
    fn put_tagged(&mut self, tag: u8, v: &[u8]) {
        self.room(1 + v.len());
        // SAFETY: `room` made space for the tag and `v`.
        unsafe {
            self.put_unchecked(&[tag]);
            self.put_unchecked(v);
        }
    }
    /// One capacity check for the tag, the length and the bytes.
    #[cfg_attr(feature = "server", inline(always))]
    fn put_tagged_binary(&mut self, tag: u8, v: &[u8]) {
        let Ok(n) = u16::try_from(v.len()) else {
            return self.fail(EncodeError::FieldTooLong(v.len()));
        };
        self.room(3 + v.len());
        let [hi, lo] = n.to_be_bytes();
        // SAFETY: `room` made space for the tag, the two length bytes and `v`.
        unsafe {
            self.put_unchecked(&[tag, hi, lo]);
            self.put_unchecked(v);
        }
    }
    fn fail(&mut self, e: EncodeError) {
        self.error.get_or_insert(e);
    }
    #[cfg_attr(feature = "server", inline(always))]
    fn open_section(&mut self) -> Prefixed {
        // Property sections are short: one byte for the length is the usual width.
        self.open_prefixed(0)
    }
    #[cfg_attr(feature = "server", inline(always))]
    fn close_section(&mut self, section: Prefixed) {
        self.close_prefixed(section, 0)
    }
}

/// Counts what an encoder writes instead of writing it: a packet's size without a buffer.
#[derive(Default)]
pub(crate) struct Counter {
    len: usize,
    error: Option<EncodeError>,
}

impl Counter {
    /// The size of a whole packet whose body is what was counted plus `payload` bytes: the
    /// fixed header's byte and remaining length, and the body.
    pub fn packet_len(self, payload: usize) -> Result<usize, EncodeError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let body = self.len + payload;
        let (_, n) = varint_bytes(body)?;
        Ok(1 + n + body)
    }

    fn binary(&mut self, extra: usize, v: &[u8]) {
        if u16::try_from(v.len()).is_err() {
            return self.fail(EncodeError::FieldTooLong(v.len()));
        }
        self.len += extra + 2 + v.len();
    }
}

impl Sink for Counter {
    fn put_u8(&mut self, _: u8) {
        self.len += 1;
    }
    fn put_slice(&mut self, v: &[u8]) {
        self.len += v.len();
    }
    fn fail(&mut self, e: EncodeError) {
        self.error.get_or_insert(e);
    }
    fn put_binary(&mut self, v: &[u8]) {
        self.binary(0, v);
    }
    fn put_tagged(&mut self, _: u8, v: &[u8]) {
        self.len += 1 + v.len();
    }
    fn put_tagged_binary(&mut self, _: u8, v: &[u8]) {
        self.binary(1, v);
    }
    fn open_section(&mut self) -> Prefixed {
        Prefixed {
            at: self.len,
            reserved: 0,
        }
    }
    fn close_section(&mut self, section: Prefixed) {
        match varint_bytes(self.len - section.at) {
            Ok((_, n)) => self.len += n,
            Err(e) => self.fail(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `head` writes, prefixed by its length plus that of `tail`, then `tail`: a packet
    /// body as the encoder writes it, with `head_hint` as its guess at the head's length.
    fn prefixed(out: &mut BytesMut, head_hint: usize, head: impl FnOnce(&mut Writer), tail: &[u8]) {
        let mut w = Writer::new(out);
        let body = w.open_prefixed(head_hint + tail.len());
        head(&mut w);
        w.close_prefixed(body, tail.len());
        w.put_slice(tail);
    }

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
            prefixed(&mut out, 0, |_| {}, &vec![7; value.min(20_000)]);
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
        prefixed(&mut out, 0, |w| w.put_slice(&[1; 50]), &[2; 100]);
        assert_eq!(&out[..2], &[0x96, 0x01]); // 150
        assert_eq!(
            (&out[2..52], &out[52..], out.len()),
            (&[1; 50][..], &[2; 100][..], 152)
        );
        // Guessed two bytes, needs one: the head moves left.
        let mut out = BytesMut::new();
        prefixed(&mut out, 200, |w| w.put_slice(&[1; 10]), &[]);
        assert_eq!(&out[..], &[&[10u8][..], &[1; 10][..]].concat()[..]);
        // A property section of 200 bytes after other bytes.
        let mut out = BytesMut::from(&b"xy"[..]);
        let mut w = Writer::new(&mut out);
        let section = w.open_section();
        w.put_slice(&[3; 200]);
        w.close_section(section);
        drop(w);
        assert_eq!(&out[..4], &[b'x', b'y', 0xC8, 0x01]);
        assert_eq!(out.len(), 204);
    }

    #[test]
    fn grows_while_writing_and_keeps_what_it_wrote() {
        // A full buffer, so that the first write already grows it, and a section whose length
        // outgrows its one-byte placeholder.
        let mut out = BytesMut::from(&b"ab"[..]);
        let mut w = Writer::new(&mut out);
        let section = w.open_section();
        for i in 0..100u8 {
            w.put_tagged_binary(i, &[i; 7]);
            w.put_tagged(i, &[i]);
        }
        w.close_section(section);
        assert_eq!(w.error(), None);
        let mut expected = b"ab".to_vec();
        expected.extend([0xB0, 0x09]); // 100 items of 12 bytes
        for i in 0..100u8 {
            expected.extend([i, 0, 7]);
            expected.extend([i; 7]);
            expected.extend([i, i]);
        }
        assert_eq!(&out[..], &expected[..]);
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
