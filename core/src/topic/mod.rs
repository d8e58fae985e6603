//! Topic names, topic filters and named-wildcard patterns [MQTT-4.7].
//!
//! - [`TopicName`]: where a message is published; no wildcards.
//! - [`TopicFilter`]: what the wire carries in SUBSCRIBE; `+` and `#` wildcards and the
//!   `$share/<group>/<filter>` form of shared subscriptions.
//! - [`Pattern`]: the page and server APIs' richer filter, where `+name` binds one level and
//!   `#name` the rest. Its wire form is a plain `TopicFilter`.

mod filter;
mod name;
mod pattern;

pub use filter::{SharedFilter, TopicFilter};
pub use name::TopicName;
pub use pattern::{Binding, Bindings, Pattern};

/// The longest topic a two-byte length prefix can carry [MQTT-4.7.3-3].
pub const MAX_TOPIC_LEN: usize = 65_535;

/// Why a string is not a valid topic name, filter or pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TopicError {
    /// Topic names and filters have at least one character [MQTT-4.7.3-1].
    #[error("topic is empty")]
    Empty,
    /// Longer than 65,535 bytes [MQTT-4.7.3-3].
    #[error("topic is longer than 65535 bytes")]
    TooLong,
    /// U+0000 is not allowed in topics [MQTT-4.7.3-2].
    #[error("topic contains the null character")]
    NullCharacter,
    /// A topic name with `+` or `#` [MQTT-3.3.2-2].
    #[error("topic name contains a wildcard")]
    WildcardInName,
    /// `+` or `#` not occupying a whole level, or `#` not last [MQTT-4.7.1-1], [MQTT-4.7.1-2].
    #[error("wildcard must occupy a whole level, and # must be last")]
    MisplacedWildcard,
    /// `$share/` without a valid group name and filter [MQTT-4.8.2-1], [MQTT-4.8.2-2].
    #[error("shared subscription needs $share/<group>/<filter> with a group free of + # /")]
    InvalidShare,
}

/// Checks what topic names and filters have in common.
fn check_common(s: &str) -> Result<(), TopicError> {
    if s.is_empty() {
        Err(TopicError::Empty)
    } else if s.len() > MAX_TOPIC_LEN {
        Err(TopicError::TooLong)
    } else if s.contains('\0') {
        Err(TopicError::NullCharacter)
    } else {
        Ok(())
    }
}

/// Whether a plain MQTT filter matches a topic name, by walking both level by level.
///
/// The reference the subscription tree is tested against, and the linear scan it is
/// benchmarked against. `filter` must be a valid non-shared filter.
pub fn filter_matches(filter: &str, topic: &str) -> bool {
    // Wildcards at the start never match `$` topics [MQTT-4.7.2-1].
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(fl), Some(tl)) if fl == tl => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_matcher_follows_the_spec() {
        let yes = [
            ("a/b", "a/b"),
            ("a/+", "a/b"),
            ("a/#", "a"),
            ("a/b/#", "a/b"),
            ("a/b/#", "a/b/c/d"),
            ("#", "a/b"),
            ("+/+", "/b"),
            ("a//b", "a//b"),
            ("a/+/b", "a//b"),
            ("+", ""),
            ("$SYS/#", "$SYS/x"),
            ("$SYS/+", "$SYS/x"),
        ];
        let no = [
            ("a/b/+", "a/b"),
            ("a/+", "a"),
            ("a/b", "a/b/c"),
            ("+", "a/b"),
            ("#", "$SYS/x"),
            ("+/x", "$SYS/x"),
            ("a//b", "a/b"),
            ("A", "a"),
        ];
        for (f, t) in yes {
            assert!(filter_matches(f, t), "{f} should match {t}");
        }
        for (f, t) in no {
            assert!(!filter_matches(f, t), "{f} should not match {t}");
        }
    }
}
