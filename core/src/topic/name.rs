//! `TopicName`: the topic of a PUBLISH.

use std::{borrow::Borrow, fmt, ops::Deref};

use super::{TopicError, check_common};
use crate::ByteStr;

/// A validated topic name: non-empty, at most 65,535 bytes, no wildcards, no U+0000.
///
/// The one exception is [`TopicName::alias_only`]: a received PUBLISH that names its topic only
/// by a Topic Alias carries an empty name until the session resolves the alias.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicName(ByteStr);

impl TopicName {
    pub fn new(s: impl Into<ByteStr>) -> Result<TopicName, TopicError> {
        TopicName::try_from(s.into())
    }

    /// A topic name from a `'static` string, checked at run time.
    pub fn from_static(s: &'static str) -> Result<TopicName, TopicError> {
        TopicName::try_from(ByteStr::from_static(s))
    }

    /// The empty name of a PUBLISH that uses a Topic Alias instead [MQTT-3.3.2.3.4].
    pub fn alias_only() -> TopicName {
        TopicName(ByteStr::new())
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    pub fn as_byte_str(&self) -> &ByteStr {
        &self.0
    }

    /// The levels, split on `/`; empty levels are levels (`a//b` has three).
    pub fn levels(&self) -> std::str::Split<'_, char> {
        self.0.split('/')
    }

    /// Topics starting with `$` are reserved for the server [MQTT-4.7.2].
    pub fn is_reserved(&self) -> bool {
        self.0.starts_with('$')
    }
}

impl TopicName {
    /// Checks that `s` is a valid topic name without making one (the page broker matches
    /// topics it never keeps).
    pub fn check(s: &str) -> Result<(), TopicError> {
        // One branch-free pass over the bytes for the common case: this runs for every PUBLISH
        // received. Only a topic that has a special byte is looked at again, to name the fault.
        let special = s
            .bytes()
            .fold(false, |found, b| found | matches!(b, b'+' | b'#' | 0));
        if s.is_empty() || s.len() > super::MAX_TOPIC_LEN || special {
            check_common(s)?;
            return Err(TopicError::WildcardInName);
        }
        Ok(())
    }
}

impl TryFrom<ByteStr> for TopicName {
    type Error = TopicError;
    fn try_from(s: ByteStr) -> Result<TopicName, TopicError> {
        TopicName::check(&s)?;
        Ok(TopicName(s))
    }
}

impl TryFrom<&str> for TopicName {
    type Error = TopicError;
    fn try_from(s: &str) -> Result<TopicName, TopicError> {
        TopicName::try_from(ByteStr::from(s))
    }
}

impl TryFrom<String> for TopicName {
    type Error = TopicError;
    fn try_from(s: String) -> Result<TopicName, TopicError> {
        TopicName::try_from(ByteStr::from(s))
    }
}

impl Deref for TopicName {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for TopicName {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_and_invalid_names() {
        for ok in [
            "a",
            "a/b",
            "/",
            "a//b",
            "$SYS/x",
            " ",
            "sport/tennis/player1",
            "ü/ß",
        ] {
            assert!(TopicName::try_from(ok).is_ok(), "{ok}");
        }
        assert_eq!(TopicName::try_from(""), Err(TopicError::Empty));
        assert_eq!(TopicName::try_from("a/+"), Err(TopicError::WildcardInName));
        assert_eq!(TopicName::try_from("a/#"), Err(TopicError::WildcardInName));
        assert_eq!(TopicName::try_from("a+b"), Err(TopicError::WildcardInName));
        assert_eq!(TopicName::try_from("a\0b"), Err(TopicError::NullCharacter));
        assert_eq!(
            TopicName::try_from("x".repeat(65_536)),
            Err(TopicError::TooLong)
        );
        assert!(TopicName::try_from("x".repeat(65_535)).is_ok());
    }

    #[test]
    fn levels_keep_empty_levels() {
        let t = TopicName::try_from("a//b/").unwrap();
        assert_eq!(t.levels().collect::<Vec<_>>(), ["a", "", "b", ""]);
        assert!(TopicName::try_from("$SYS/a").unwrap().is_reserved());
    }
}
