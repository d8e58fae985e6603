//! `TopicFilter`: the filter of a subscription as the wire carries it.

use std::{fmt, ops::Deref};

use super::{TopicError, check_common};
use crate::ByteStr;

/// A validated topic filter [MQTT-4.7.1]: `+` and `#` occupy whole levels and `#` comes last.
/// May be a shared subscription, `$share/<group>/<filter>` [MQTT-4.8.2].
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicFilter(ByteStr);

/// The parts of a shared subscription's filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedFilter<'a> {
    /// The share name: subscribers with the same group take turns.
    pub group: &'a str,
    /// The filter the group subscribes to.
    pub filter: &'a str,
}

const SHARE_PREFIX: &str = "$share/";

impl TopicFilter {
    pub fn new(s: impl Into<ByteStr>) -> Result<TopicFilter, TopicError> {
        TopicFilter::try_from(s.into())
    }

    /// A filter the caller has already validated (a parsed `Pattern`'s wire form).
    pub(crate) fn checked(s: ByteStr) -> TopicFilter {
        debug_assert!(TopicFilter::try_from(s.clone()).is_ok(), "{s}");
        TopicFilter(s)
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    pub fn as_byte_str(&self) -> &ByteStr {
        &self.0
    }

    /// The group and inner filter of a `$share/<group>/<filter>` subscription.
    pub fn shared(&self) -> Option<SharedFilter<'_>> {
        split_shared(self.as_str())
    }

    /// The filter that topics are matched against: the inner filter of a shared subscription.
    pub fn match_filter(&self) -> &str {
        self.shared().map_or(self.as_str(), |s| s.filter)
    }

    /// Whether the filter contains `+` or `#`.
    pub fn has_wildcards(&self) -> bool {
        self.match_filter().split('/').any(|l| l == "+" || l == "#")
    }

    /// Whether `topic` matches this filter (by the reference matcher; the tree is faster).
    pub fn matches(&self, topic: &str) -> bool {
        super::filter_matches(self.match_filter(), topic)
    }
}

fn split_shared(s: &str) -> Option<SharedFilter<'_>> {
    let rest = s.strip_prefix(SHARE_PREFIX)?;
    let (group, filter) = rest.split_once('/')?;
    Some(SharedFilter { group, filter })
}

/// Checks the wildcard rules of a plain (non-shared) filter.
fn check_wildcards(s: &str) -> Result<(), TopicError> {
    let mut levels = s.split('/').peekable();
    while let Some(level) = levels.next() {
        let ok = match level {
            "#" => levels.peek().is_none(),
            "+" => true,
            _ => !level.contains(['+', '#']),
        };
        if !ok {
            return Err(TopicError::MisplacedWildcard);
        }
    }
    Ok(())
}

impl TryFrom<ByteStr> for TopicFilter {
    type Error = TopicError;
    fn try_from(s: ByteStr) -> Result<TopicFilter, TopicError> {
        check_common(&s)?;
        if s.starts_with(SHARE_PREFIX) {
            let shared = split_shared(&s).ok_or(TopicError::InvalidShare)?;
            if shared.group.is_empty()
                || shared.group.contains(['+', '#'])
                || shared.filter.is_empty()
            {
                return Err(TopicError::InvalidShare);
            }
            check_wildcards(shared.filter)?;
        } else {
            check_wildcards(&s)?;
        }
        Ok(TopicFilter(s))
    }
}

impl TryFrom<&str> for TopicFilter {
    type Error = TopicError;
    fn try_from(s: &str) -> Result<TopicFilter, TopicError> {
        TopicFilter::try_from(ByteStr::from(s))
    }
}

impl TryFrom<String> for TopicFilter {
    type Error = TopicError;
    fn try_from(s: String) -> Result<TopicFilter, TopicError> {
        TopicFilter::try_from(ByteStr::from(s))
    }
}

impl From<crate::TopicName> for TopicFilter {
    /// Every topic name is a filter that matches exactly itself.
    fn from(name: crate::TopicName) -> TopicFilter {
        TopicFilter(name.as_byte_str().clone())
    }
}

impl Deref for TopicFilter {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for TopicFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for TopicFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_filters() {
        for ok in [
            "#",
            "+",
            "a/#",
            "a/+/b",
            "+/+",
            "/",
            "a//b",
            "+/#",
            "$SYS/#",
            "a/b/c",
            "$share/g/a/#",
            "$share/g/#",
        ] {
            assert!(TopicFilter::try_from(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn invalid_filters() {
        let cases = [
            ("", TopicError::Empty),
            ("a/#/b", TopicError::MisplacedWildcard),
            ("a#", TopicError::MisplacedWildcard),
            ("a/b+", TopicError::MisplacedWildcard),
            ("+a", TopicError::MisplacedWildcard),
            ("##", TopicError::MisplacedWildcard),
            ("a\0", TopicError::NullCharacter),
            ("$share/g", TopicError::InvalidShare),
            ("$share//a", TopicError::InvalidShare),
            ("$share/g/", TopicError::InvalidShare),
            ("$share/g+/a", TopicError::InvalidShare),
            ("$share/g/a/#/b", TopicError::MisplacedWildcard),
        ];
        for (f, e) in cases {
            assert_eq!(TopicFilter::try_from(f), Err(e), "{f}");
        }
    }

    #[test]
    fn shared_subscription_parts() {
        let f = TopicFilter::try_from("$share/workers/jobs/+").unwrap();
        assert_eq!(
            f.shared(),
            Some(SharedFilter {
                group: "workers",
                filter: "jobs/+"
            })
        );
        assert_eq!(f.match_filter(), "jobs/+");
        assert!(f.has_wildcards());
        assert!(f.matches("jobs/1"));
        let plain = TopicFilter::try_from("jobs/1").unwrap();
        assert_eq!(plain.shared(), None);
        assert!(!plain.has_wildcards());
    }
}
