//! `ByteStr`: an immutable UTF-8 string that shares a `Bytes` buffer.
//!
//! Decoding a packet slices strings out of the packet buffer instead of copying them; the
//! server fans the same topic and properties out to many subscribers by reference count.

use std::{borrow::Borrow, fmt, hash, ops::Deref};

use bytes::Bytes;

/// A UTF-8 string backed by [`Bytes`]. Cloning is a reference-count increment.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteStr(Bytes);

/// The bytes were not valid UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid UTF-8")]
pub struct Utf8Error;

impl ByteStr {
    /// An empty string.
    pub const fn new() -> Self {
        ByteStr(Bytes::new())
    }

    /// A string from a `'static` literal, without copying.
    pub const fn from_static(s: &'static str) -> Self {
        ByteStr(Bytes::from_static(s.as_bytes()))
    }

    /// Checks that `bytes` are UTF-8 and wraps them without copying.
    pub fn from_utf8(bytes: Bytes) -> Result<Self, Utf8Error> {
        std::str::from_utf8(&bytes).map_err(|_| Utf8Error)?;
        Ok(ByteStr(bytes))
    }

    /// Wraps `bytes`, validating them only when `check` is set; the caller has otherwise
    /// proven them ASCII (and so UTF-8).
    pub(crate) fn from_utf8_checked_if(bytes: Bytes, check: bool) -> Result<Self, Utf8Error> {
        if check {
            return Self::from_utf8(bytes);
        }
        debug_assert!(bytes.is_ascii());
        Ok(ByteStr(bytes))
    }

    pub fn as_str(&self) -> &str {
        // SAFETY: every constructor either checks the bytes with `str::from_utf8` or takes
        // them from a `str`/`String`, and the buffer is immutable.
        unsafe { std::str::from_utf8_unchecked(&self.0) }
    }

    /// The underlying shared buffer.
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }

    /// A sub-string sharing this buffer; `sub` must be a slice of `self.as_str()`.
    pub fn slice_ref(&self, sub: &str) -> ByteStr {
        ByteStr(self.0.slice_ref(sub.as_bytes()))
    }
}

impl Deref for ByteStr {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for ByteStr {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for ByteStr {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl hash::Hash for ByteStr {
    // Hash as `str` so that `Borrow<str>` look-ups in hash maps agree.
    fn hash<H: hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl From<String> for ByteStr {
    fn from(s: String) -> Self {
        ByteStr(Bytes::from(s.into_bytes()))
    }
}

impl From<&str> for ByteStr {
    fn from(s: &str) -> Self {
        ByteStr(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl PartialEq<str> for ByteStr {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for ByteStr {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Debug for ByteStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for ByteStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
