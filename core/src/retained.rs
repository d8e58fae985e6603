//! The retained-message store [MQTT-3.3.1.3]: the last retained message per topic, looked up
//! by topic filter when a subscription is made.
//!
//! Topics are stored in a trie of levels, so an exact filter costs one step per level and a
//! wildcard filter visits only the subtrees it can match, never every topic. Results come in no
//! particular order (MQTT asks for none). Expiry times are the caller's clock readings; expired
//! messages are never returned and are dropped by [`RetainedStore::expire`].

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::level_map::LevelMap;
use crate::{ByteStr, Publish, Timestamp, TopicName};

/// A retained message as stored.
pub struct Retained<M> {
    pub topic: TopicName,
    pub message: M,
    /// When the message expires (from its Message Expiry Interval), if ever.
    pub expires_at: Option<Timestamp>,
}

impl<M> Retained<M> {
    fn live(&self, now: Timestamp) -> bool {
        self.expires_at.is_none_or(|t| now < t)
    }
}

struct Node<M> {
    children: LevelMap<ByteStr, Node<M>>,
    retained: Option<Retained<M>>,
}

impl<M> Default for Node<M> {
    fn default() -> Self {
        Node {
            children: LevelMap::new(),
            retained: None,
        }
    }
}

/// Retained messages of type `M` by topic.
pub struct RetainedStore<M> {
    root: Node<M>,
    len: usize,
    /// Expiry times, earliest first. An entry whose message was replaced or cleared stays until
    /// its time comes and is then skipped: a heap is far less code than an ordered set in the
    /// page's wasm, and stale entries are bounded by publish rate times expiry interval.
    expiries: BinaryHeap<Reverse<(Timestamp, TopicName)>>,
}

impl<M> Default for RetainedStore<M> {
    fn default() -> Self {
        RetainedStore {
            root: Node::default(),
            len: 0,
            expiries: BinaryHeap::new(),
        }
    }
}

impl<M> RetainedStore<M> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of stored messages, expired ones included until [`expire`](Self::expire) runs.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Stores `message` as the retained message of `topic`, replacing and returning the old one.
    pub fn set(
        &mut self,
        topic: TopicName,
        message: M,
        expires_at: Option<Timestamp>,
    ) -> Option<M> {
        let mut node = &mut self.root;
        for level in topic.levels() {
            node = node
                .children
                .entry(topic.as_byte_str().slice_ref(level))
                .or_default();
        }
        if let Some(t) = expires_at {
            self.expiries.push(Reverse((t, topic.clone())));
        }
        let old = node.retained.replace(Retained {
            topic,
            message,
            expires_at,
        });
        if old.is_none() {
            self.len += 1;
        }
        old.map(|old| old.message)
    }

    /// Removes the retained message of `topic` (what an empty retained payload does).
    pub fn clear(&mut self, topic: &str) -> Option<M> {
        let old = clear_path(&mut self.root, Some(topic), None)?;
        self.len -= 1;
        Some(old.message)
    }

    /// The live retained message of one topic.
    pub fn get(&self, topic: &str, now: Timestamp) -> Option<&Retained<M>> {
        let mut node = &self.root;
        for level in topic.split('/') {
            node = node.children.get(level)?;
        }
        node.retained.as_ref().filter(|r| r.live(now))
    }

    /// Calls `f` for every live retained message whose topic matches the plain MQTT `filter`.
    pub fn for_each_match<'a>(
        &'a self,
        filter: &str,
        now: Timestamp,
        mut f: impl FnMut(&'a Retained<M>),
    ) {
        // Filters that start with a wildcard do not match `$` topics [MQTT-4.7.2-1].
        let skip_dollar = filter.starts_with(['+', '#']);
        walk(&self.root, Some(filter), skip_dollar, now, &mut f);
    }

    /// Every live retained message whose topic matches `filter`.
    pub fn matching(&self, filter: &str, now: Timestamp) -> Vec<&Retained<M>> {
        let mut out = Vec::new();
        self.for_each_match(filter, now, |r| out.push(r));
        out
    }

    /// Drops the messages expired at `now`; returns how many.
    pub fn expire(&mut self, now: Timestamp) -> usize {
        self.expire_each(now, |_| {})
    }

    /// [`expire`](Self::expire), calling `gone` with each topic whose message went (a
    /// server's store deletes them too).
    pub fn expire_each(&mut self, now: Timestamp, mut gone: impl FnMut(&TopicName)) -> usize {
        let mut dropped = 0;
        while self
            .expiries
            .peek()
            .is_some_and(|Reverse((t, _))| *t <= now)
        {
            let Some(Reverse((t, topic))) = self.expiries.pop() else {
                break;
            };
            // Only if the stored message is still the one this entry was made for.
            if clear_path(&mut self.root, Some(topic.as_str()), Some(t)).is_some() {
                self.len -= 1;
                dropped += 1;
                gone(&topic);
            }
        }
        dropped
    }

    /// The earliest expiry, for the caller's timer (possibly of a message since replaced: the
    /// timer then fires early and [`expire`](Self::expire) finds nothing to drop).
    pub fn next_expiry(&self) -> Option<Timestamp> {
        self.expiries.peek().map(|Reverse((t, _))| *t)
    }
}

impl RetainedStore<Publish> {
    /// Applies a retained PUBLISH received at `now`: an empty payload clears the topic
    /// [MQTT-3.3.1-6], anything else replaces it, expiring per its Message Expiry Interval.
    pub fn apply(&mut self, publish: Publish, now: Timestamp) {
        if publish.payload.is_empty() {
            self.clear(publish.topic.as_str());
        } else {
            let expires_at = publish
                .properties
                .message_expiry_interval
                .map(|s| now.after_secs(s));
            self.set(publish.topic.clone(), publish, expires_at);
        }
    }
}

fn walk<'a, M>(
    node: &'a Node<M>,
    rest: Option<&str>,
    skip_dollar: bool,
    now: Timestamp,
    f: &mut impl FnMut(&'a Retained<M>),
) {
    let Some(rest) = rest else {
        if let Some(r) = node.retained.as_ref().filter(|r| r.live(now)) {
            f(r);
        }
        return;
    };
    let (level, tail) = match rest.split_once('/') {
        Some((l, t)) => (l, Some(t)),
        None => (rest, None),
    };
    match level {
        "#" => {
            // `#` matches the parent level too [MQTT-4.7.1-2].
            if let Some(r) = node.retained.as_ref().filter(|r| r.live(now)) {
                f(r);
            }
            for (name, child) in &node.children {
                if !(skip_dollar && name.starts_with('$')) {
                    subtree(child, now, f);
                }
            }
        }
        "+" => {
            for (name, child) in &node.children {
                if !(skip_dollar && name.starts_with('$')) {
                    walk(child, tail, false, now, f);
                }
            }
        }
        _ => {
            if let Some(child) = node.children.get(level) {
                walk(child, tail, false, now, f);
            }
        }
    }
}

fn subtree<'a, M>(node: &'a Node<M>, now: Timestamp, f: &mut impl FnMut(&'a Retained<M>)) {
    if let Some(r) = node.retained.as_ref().filter(|r| r.live(now)) {
        f(r);
    }
    for child in node.children.values() {
        subtree(child, now, f);
    }
}

/// Removes the message at `rest` (only if it expires at `expiring`, when given) and prunes the
/// nodes left empty.
fn clear_path<M>(
    node: &mut Node<M>,
    rest: Option<&str>,
    expiring: Option<Timestamp>,
) -> Option<Retained<M>> {
    let Some(rest) = rest else {
        return match expiring {
            Some(t) if node.retained.as_ref()?.expires_at != Some(t) => None,
            _ => node.retained.take(),
        };
    };
    let (level, tail) = match rest.split_once('/') {
        Some((l, t)) => (l, Some(t)),
        None => (rest, None),
    };
    let child = node.children.get_mut(level)?;
    let old = clear_path(child, tail, expiring);
    if child.retained.is_none() && child.children.is_empty() {
        node.children.remove(level);
    }
    old
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(s: &str) -> TopicName {
        TopicName::try_from(s).unwrap()
    }

    fn store(topics: &[&str]) -> RetainedStore<String> {
        let mut s = RetainedStore::new();
        for t in topics {
            s.set(topic(t), t.to_string(), None);
        }
        s
    }

    /// The messages matching `filter`, sorted.
    fn found(s: &RetainedStore<String>, filter: &str) -> Vec<String> {
        let mut found: Vec<String> = s
            .matching(filter, Timestamp(0))
            .iter()
            .map(|r| r.message.clone())
            .collect();
        found.sort();
        found
    }

    #[test]
    fn lookup_by_exact_and_wildcard_filters() {
        let s = store(&["a", "a/b", "a/b/c", "a//c", "b/b", "$SYS/up"]);
        assert_eq!(found(&s, "a/b"), ["a/b"]);
        assert_eq!(found(&s, "a/b/#"), ["a/b", "a/b/c"]);
        assert_eq!(found(&s, "a/+"), ["a/b"]);
        assert_eq!(found(&s, "a/+/c"), ["a//c", "a/b/c"]);
        assert_eq!(found(&s, "+/b"), ["a/b", "b/b"]);
        assert_eq!(found(&s, "#"), ["a", "a//c", "a/b", "a/b/c", "b/b"]);
        assert_eq!(found(&s, "$SYS/#"), ["$SYS/up"]);
        assert_eq!(found(&s, "+/up"), Vec::<String>::new());
        assert_eq!(found(&s, "x/#"), Vec::<String>::new());
    }

    #[test]
    fn set_replaces_and_clear_prunes() {
        let mut s = store(&["a/b/c"]);
        assert_eq!(
            s.set(topic("a/b/c"), "new".into(), None),
            Some("a/b/c".into())
        );
        assert_eq!(s.len(), 1);
        assert_eq!(s.get("a/b/c", Timestamp(0)).unwrap().message, "new");
        assert_eq!(s.clear("a/b/c"), Some("new".into()));
        assert_eq!(s.clear("a/b/c"), None);
        assert!(s.is_empty() && s.root.children.is_empty());
    }

    #[test]
    fn expiry_uses_the_callers_clock() {
        let mut s = RetainedStore::new();
        s.set(topic("t/1"), 1, Some(Timestamp(1_000)));
        s.set(topic("t/2"), 2, Some(Timestamp(5_000)));
        s.set(topic("t/3"), 3, None);
        assert_eq!(s.matching("t/+", Timestamp(999)).len(), 3);
        assert_eq!(s.matching("t/+", Timestamp(1_000)).len(), 2);
        assert!(s.get("t/1", Timestamp(1_000)).is_none());
        assert_eq!(s.next_expiry(), Some(Timestamp(1_000)));
        assert_eq!(s.expire(Timestamp(1_000)), 1);
        assert_eq!(s.len(), 2);
        // Replacing a message drops its old expiry: the old entry expires nothing.
        s.set(topic("t/2"), 22, None);
        s.set(topic("t/3"), 33, Some(Timestamp(9_000)));
        assert_eq!(s.expire(Timestamp(5_000)), 0);
        s.set(topic("t/3"), 34, Some(Timestamp(12_000)));
        assert_eq!(s.expire(Timestamp(10_000)), 0);
        assert_eq!(s.get("t/3", Timestamp(10_000)).unwrap().message, 34);
        assert_eq!(s.expire(Timestamp(12_000)), 1);
        assert_eq!(s.next_expiry(), None);
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn apply_publish_sets_clears_and_expires() {
        let mut s = RetainedStore::new();
        let mut p = Publish::new(topic("room/1"), &b"21.5"[..]);
        p.retain = true;
        p.properties.message_expiry_interval = Some(10);
        s.apply(p.clone(), Timestamp(0));
        let r = s.get("room/1", Timestamp(0)).unwrap();
        assert_eq!(r.expires_at, Some(Timestamp(10_000)));
        assert_eq!(&r.message.payload[..], b"21.5");
        p.payload = Default::default();
        s.apply(p, Timestamp(1));
        assert!(s.is_empty());
    }
}
