//! `Pattern`: a topic filter whose wildcards may carry names, as in cotonic and Zotonic.
//!
//! `truck/+id/#rest` matches like `truck/+/#`; a match binds `id` to one level (a string) and
//! `rest` to the remaining levels (a list, empty when the topic is the parent `truck/<id>`).

use std::fmt;

use super::{TopicError, TopicFilter, check_common};
use crate::ByteStr;

/// One level of a pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    /// Matches exactly this level.
    Literal(ByteStr),
    /// `+` or `+name`: any one level.
    Plus(Option<ByteStr>),
    /// `#` or `#name`: the remaining levels, possibly none. Always last.
    Hash(Option<ByteStr>),
}

/// A parsed filter with optional named wildcards; its wire form is [`Pattern::filter`].
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Pattern {
    source: ByteStr,
    filter: TopicFilter,
    segments: Box<[Segment]>,
    share_group: Option<ByteStr>,
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

impl Pattern {
    /// Parses `[$share/<group>/]level/level/...` where a level is a literal, `+[name]` or,
    /// last, `#[name]`.
    pub fn parse(s: impl Into<ByteStr>) -> Result<Pattern, TopicError> {
        let source: ByteStr = s.into();
        check_common(&source)?;
        let (share_group, body) = match source.strip_prefix("$share/") {
            Some(rest) => {
                let (group, body) = rest.split_once('/').ok_or(TopicError::InvalidShare)?;
                if group.is_empty() || group.contains(['+', '#']) || body.is_empty() {
                    return Err(TopicError::InvalidShare);
                }
                (Some(source.slice_ref(group)), body)
            }
            None => (None, source.as_str()),
        };
        let segments = parse_segments(&source, body)?;
        let filter = if segments
            .iter()
            .any(|s| matches!(s, Segment::Plus(Some(_)) | Segment::Hash(Some(_))))
        {
            TopicFilter::try_from(wire_form(share_group.as_deref(), &segments))?
        } else {
            TopicFilter::try_from(source.clone())?
        };
        Ok(Pattern {
            source,
            filter,
            segments: segments.into(),
            share_group,
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

    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The group of a `$share/<group>/...` pattern.
    pub fn share_group(&self) -> Option<&str> {
        self.share_group.as_deref()
    }

    /// No wildcards at all: matches exactly one topic.
    pub fn is_exact(&self) -> bool {
        self.segments
            .iter()
            .all(|s| matches!(s, Segment::Literal(_)))
    }

    /// The topic an exact pattern matches (its levels joined), `None` for wildcard patterns.
    pub fn exact_topic(&self) -> Option<&str> {
        self.is_exact().then(|| self.filter.match_filter())
    }

    pub fn has_names(&self) -> bool {
        self.segments
            .iter()
            .any(|s| matches!(s, Segment::Plus(Some(_)) | Segment::Hash(Some(_))))
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
        let mut out = Vec::new();
        let mut levels = topic.split('/');
        for segment in self.segments.iter() {
            match segment {
                Segment::Literal(_) | Segment::Plus(None) => {
                    levels.next();
                }
                Segment::Plus(Some(name)) => {
                    let level = levels.next().unwrap_or_default();
                    out.push((name.clone(), Binding::One(level.to_owned())));
                }
                Segment::Hash(None) => break,
                Segment::Hash(Some(name)) => {
                    let rest = levels.by_ref().map(str::to_owned).collect();
                    out.push((name.clone(), Binding::Rest(rest)));
                    break;
                }
            }
        }
        Bindings(out)
    }
}

fn parse_segments(source: &ByteStr, body: &str) -> Result<Vec<Segment>, TopicError> {
    let mut segments = Vec::new();
    let mut levels = body.split('/').peekable();
    while let Some(level) = levels.next() {
        let name = |n: &str| (!n.is_empty()).then(|| source.slice_ref(n));
        let segment = if let Some(n) = level.strip_prefix('+') {
            Segment::Plus(name(n))
        } else if let Some(n) = level.strip_prefix('#') {
            if levels.peek().is_some() {
                return Err(TopicError::MisplacedWildcard);
            }
            Segment::Hash(name(n))
        } else {
            Segment::Literal(source.slice_ref(level))
        };
        let bad_name = match &segment {
            Segment::Plus(Some(n)) | Segment::Hash(Some(n)) | Segment::Literal(n) => {
                n.contains(['+', '#'])
            }
            _ => false,
        };
        if bad_name {
            return Err(TopicError::MisplacedWildcard);
        }
        segments.push(segment);
    }
    Ok(segments)
}

fn wire_form(share_group: Option<&str>, segments: &[Segment]) -> String {
    // Built by hand: `join` and `format!` cost the page's bundle a kilobyte for this.
    let mut out = String::new();
    if let Some(g) = share_group {
        out.push_str("$share/");
        out.push_str(g);
        out.push('/');
    }
    for (i, s) in segments.iter().enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(match s {
            Segment::Literal(l) => l.as_str(),
            Segment::Plus(_) => "+",
            Segment::Hash(_) => "#",
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
