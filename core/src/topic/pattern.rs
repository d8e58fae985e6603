//! `Pattern`: a topic filter whose wildcards may carry names, as in cotonic and Zotonic.
//!
//! `truck/+id/#rest` matches like `truck/+/#`; a match binds `id` to one level (a string) and
//! `rest` to the remaining levels (a list, empty when the topic is the parent `truck/<id>`).

use std::fmt;

use super::{TopicError, TopicFilter, check_common};
use crate::ByteStr;

/// A named wildcard of a pattern: where it binds, and where its name is in the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Name {
    /// The topic level it binds (the first of them for `#name`).
    level: u16,
    /// `#name`: the remaining levels.
    rest: bool,
    /// The name's byte range in the source.
    start: u16,
    len: u16,
}

/// A parsed filter with optional named wildcards; its wire form is [`Pattern::filter`].
///
/// Kept small, because the tree holds one per subscription: the source, the wire filter
/// (the same buffer unless names were dropped), and the named wildcards if there are any.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Pattern {
    source: ByteStr,
    filter: TopicFilter,
    names: Box<[Name]>,
    /// The length of the `$share/<group>/` prefix, 0 when not shared.
    share_len: u16,
    exact: bool,
}

/// What a named wildcard bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Binding {
    /// From `+name`: one level.
    One(String),
    /// From `#name`: the remaining levels.
    Rest(Vec<String>),
}

/// The bindings of one match, in pattern order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bindings(pub Vec<(ByteStr, Binding)>);

impl Bindings {
    pub fn get(&self, name: &str) -> Option<&Binding> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, b)| b)
    }
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Binding)> {
        self.0.iter().map(|(n, b)| (n.as_str(), b))
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

const SHARE_PREFIX: &str = "$share/";

impl Pattern {
    /// Parses `[$share/<group>/]level/level/...` where a level is a literal, `+[name]` or,
    /// last, `#[name]`. One pass over the levels; the wire filter is not parsed again.
    pub fn parse(s: impl Into<ByteStr>) -> Result<Pattern, TopicError> {
        let source: ByteStr = s.into();
        check_common(&source)?;
        let body = match source.strip_prefix(SHARE_PREFIX) {
            Some(rest) => {
                let (group, body) = rest.split_once('/').ok_or(TopicError::InvalidShare)?;
                if group.is_empty() || group.contains(['+', '#']) || body.is_empty() {
                    return Err(TopicError::InvalidShare);
                }
                body
            }
            None => source.as_str(),
        };
        let share_len = source.len() - body.len();
        let mut names = Vec::new();
        let mut exact = true;
        // One pass over the bytes of the levels (this runs for every subscribe).
        let bytes = body.as_bytes();
        let mut start = 0;
        let mut level: u16 = 0;
        for end in 0..=bytes.len() {
            if end < bytes.len() && bytes[end] != b'/' {
                continue;
            }
            let text = bytes.get(start..end).unwrap_or_default();
            let kind = text.first().copied();
            let wild = matches!(kind, Some(b'+' | b'#'));
            let name = if wild {
                text.get(1..).unwrap_or_default()
            } else {
                text
            };
            let last = end == bytes.len();
            if name.iter().any(|b| matches!(b, b'+' | b'#')) || (kind == Some(b'#') && !last) {
                return Err(TopicError::MisplacedWildcard);
            }
            exact &= !wild;
            if wild && !name.is_empty() {
                // Lengths are at most 65,535 (checked above): every offset fits in u16.
                names.push(Name {
                    level,
                    rest: kind == Some(b'#'),
                    start: (share_len + start + 1) as u16,
                    len: name.len() as u16,
                });
            }
            level = level.wrapping_add(1);
            start = end + 1;
        }
        let filter = if names.is_empty() {
            TopicFilter::checked(source.clone())
        } else {
            let prefix = source.get(..share_len).unwrap_or_default();
            TopicFilter::checked(wire_form(prefix, body).into())
        };
        Ok(Pattern {
            source,
            filter,
            names: names.into(),
            share_len: share_len as u16,
            exact,
        })
    }

    /// The pattern as written, names included.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The plain MQTT filter for the wire (names dropped, `$share/` kept).
    pub fn filter(&self) -> &TopicFilter {
        &self.filter
    }

    /// The group of a `$share/<group>/...` pattern.
    pub fn share_group(&self) -> Option<&str> {
        let end = usize::from(self.share_len);
        (end > 0).then(|| {
            self.source
                .get(SHARE_PREFIX.len()..end - 1)
                .unwrap_or_default()
        })
    }

    /// No wildcards at all: matches exactly one topic.
    pub fn is_exact(&self) -> bool {
        self.exact
    }

    /// The topic an exact pattern matches (its levels joined), `None` for wildcard patterns.
    pub fn exact_topic(&self) -> Option<&str> {
        self.is_exact().then(|| self.filter.match_filter())
    }

    pub fn has_names(&self) -> bool {
        !self.names.is_empty()
    }

    /// The named wildcards in order: the topic level each binds, and whether it is `#name`
    /// (the remaining levels).
    pub fn named_levels(&self) -> impl Iterator<Item = (usize, bool)> + '_ {
        self.names.iter().map(|n| (usize::from(n.level), n.rest))
    }

    /// Whether `topic` matches.
    pub fn matches(&self, topic: &str) -> bool {
        self.filter.matches(topic)
    }

    /// The bindings for `topic`, or `None` when it does not match.
    pub fn bind(&self, topic: &str) -> Option<Bindings> {
        if !self.matches(topic) {
            return None;
        }
        Some(self.bindings_unchecked(topic))
    }

    /// The bindings for a topic already known to match.
    pub fn bindings_unchecked(&self, topic: &str) -> Bindings {
        let mut out = Vec::with_capacity(self.names.len());
        let mut levels = topic.split('/');
        let mut next = 0;
        for n in self.names.iter() {
            let mut skip = levels.by_ref().skip(usize::from(n.level) - next);
            let start = usize::from(n.start);
            let name = self.source.slice_ref(
                self.source
                    .get(start..start + usize::from(n.len))
                    .unwrap_or_default(),
            );
            let binding = if n.rest {
                Binding::Rest(skip.map(str::to_owned).collect())
            } else {
                Binding::One(skip.next().unwrap_or_default().to_owned())
            };
            next = usize::from(n.level) + 1;
            out.push((name, binding));
        }
        Bindings(out)
    }
}

/// The wire form of a named pattern: the share prefix, then the levels with names dropped.
fn wire_form(share_prefix: &str, body: &str) -> String {
    // Built by hand: `join` and `format!` cost the page's bundle a kilobyte for this.
    let mut out = String::with_capacity(share_prefix.len() + body.len());
    out.push_str(share_prefix);
    for (i, level) in body.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(match level.as_bytes().first() {
            Some(b'+') => "+",
            Some(b'#') => "#",
            _ => level,
        });
    }
    out
}

impl From<TopicFilter> for Pattern {
    fn from(filter: TopicFilter) -> Pattern {
        // A valid filter is a valid pattern without names; parsing cannot fail.
        Pattern::parse(filter.as_byte_str().clone())
            .unwrap_or_else(|_| unreachable!("valid filter {filter}"))
    }
}

impl TryFrom<&str> for Pattern {
    type Error = TopicError;
    fn try_from(s: &str) -> Result<Pattern, TopicError> {
        Pattern::parse(s)
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pattern({:?})", self.as_str())
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(s: &str) -> Binding {
        Binding::One(s.into())
    }
    fn rest(s: &[&str]) -> Binding {
        Binding::Rest(s.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn named_wildcards_bind_levels() {
        let p = Pattern::parse("truck/+id/#rest").unwrap();
        assert_eq!(p.filter().as_str(), "truck/+/#");
        assert!(p.has_names());
        let b = p.bind("truck/42/engine/temp").unwrap();
        assert_eq!(b.get("id"), Some(&one("42")));
        assert_eq!(b.get("rest"), Some(&rest(&["engine", "temp"])));
        // The parent matches `#` and binds an empty list.
        let b = p.bind("truck/42").unwrap();
        assert_eq!(b.get("rest"), Some(&rest(&[])));
        assert_eq!(p.bind("car/42"), None);
        assert_eq!(p.bind("truck"), None);
    }

    #[test]
    fn empty_levels_bind_as_empty_strings() {
        let p = Pattern::parse("a/+x/b").unwrap();
        assert_eq!(p.bind("a//b").unwrap().get("x"), Some(&one("")));
    }

    #[test]
    fn plain_and_shared_patterns() {
        let p = Pattern::parse("a/+/#").unwrap();
        assert!(!p.has_names());
        assert!(p.bind("a/b").unwrap().is_empty());
        let s = Pattern::parse("$share/g/jobs/+kind").unwrap();
        assert_eq!(s.share_group(), Some("g"));
        assert_eq!(s.filter().as_str(), "$share/g/jobs/+");
        assert_eq!(
            s.bind("jobs/print").unwrap().get("kind"),
            Some(&one("print"))
        );
        assert!(Pattern::parse("a/b").unwrap().is_exact());
        assert_eq!(Pattern::parse("a/b").unwrap().exact_topic(), Some("a/b"));
    }

    #[test]
    fn every_valid_filter_is_a_pattern() {
        for f in [
            "#",
            "+",
            "a/+/b",
            "/",
            "a//#",
            "$SYS/#",
            "$share/g/#",
            "$share/g/a/+",
        ] {
            let filter = TopicFilter::try_from(f).unwrap();
            let pattern = Pattern::from(filter.clone());
            assert_eq!(pattern.filter(), &filter);
            assert!(!pattern.has_names());
        }
    }

    #[test]
    fn invalid_patterns() {
        for bad in [
            "",
            "a/#x/b",
            "a+b",
            "a/+x+",
            "#a#",
            "$share/g",
            "$share//x",
            "a/x#",
        ] {
            assert!(Pattern::parse(bad).is_err(), "{bad}");
        }
    }
}
