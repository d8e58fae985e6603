//! The subscription tree: which subscriptions does a topic reach, and what do their named
//! wildcards bind?
//!
//! Filters without wildcards live in a map keyed by the whole topic (one look-up per
//! publish). Wildcard filters live in a trie with one node per level; matching a topic walks
//! at most two children per level (the literal one and `+`) and collects `#` subscribers on the
//! way. Removing the last subscription of a node frees it and its empty ancestors.
//!
//! Matches come out in a stable order: exact subscriptions first, then trie subscriptions by
//! filter; the subscriptions of one filter always in insertion order.

use crate::level_map::{ExactMap, LevelMap};
use crate::{Bindings, ByteStr, Pattern};

/// Identifies one subscription in one tree, for removal and look-up. Never zero, so that an
/// `Option<SubscriptionKey>` takes no more room than the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubscriptionKey(std::num::NonZeroU64);

impl SubscriptionKey {
    pub fn get(self) -> u64 {
        self.0.get()
    }
}

struct Entry<T> {
    key: SubscriptionKey,
    pattern: Pattern,
    value: T,
}

struct Node<T> {
    literal: LevelMap<ByteStr, Node<T>>,
    plus: Option<Box<Node<T>>>,
    /// Filters ending in `#` here: they match this level's topic and everything below it.
    hash: Vec<Entry<T>>,
    /// Filters ending exactly here.
    here: Vec<Entry<T>>,
}

impl<T> Default for Node<T> {
    fn default() -> Self {
        Node {
            literal: LevelMap::new(),
            plus: None,
            hash: Vec::new(),
            here: Vec::new(),
        }
    }
}

impl<T> Node<T> {
    fn is_empty(&self) -> bool {
        self.literal.is_empty()
            && self.plus.is_none()
            && self.hash.is_empty()
            && self.here.is_empty()
    }
}

/// One subscription a topic reaches.
pub struct Match<'a, T> {
    pub key: SubscriptionKey,
    /// The subscription's pattern (with names and `$share/` group, if any).
    pub pattern: &'a Pattern,
    pub value: &'a T,
    topic: &'a str,
}

impl<T> Match<'_, T> {
    /// What the pattern's named wildcards bind for this topic.
    pub fn bindings(&self) -> Bindings {
        self.pattern.bindings_unchecked(self.topic)
    }
}

/// Subscriptions with values of type `T` (a session id on the server, a callback in the page).
pub struct SubscriptionTree<T> {
    exact: ExactMap<ByteStr, Vec<Entry<T>>>,
    root: Node<T>,
    /// Where each subscription lives: its match filter (the trie path, or the exact topic).
    index: LevelMap<SubscriptionKey, ByteStr>,
    next_key: std::num::NonZeroU64,
}

impl<T> Default for SubscriptionTree<T> {
    fn default() -> Self {
        SubscriptionTree {
            exact: ExactMap::default(),
            root: Node::default(),
            index: LevelMap::new(),
            next_key: std::num::NonZeroU64::MIN,
        }
    }
}

fn split_level(rest: &str) -> (&str, Option<&str>) {
    match rest.split_once('/') {
        Some((level, tail)) => (level, Some(tail)),
        None => (rest, None),
    }
}

impl<T> SubscriptionTree<T> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Adds a subscription. The same pattern may be subscribed any number of times.
    pub fn insert(&mut self, pattern: Pattern, value: T) -> SubscriptionKey {
        let key = SubscriptionKey(self.next_key);
        self.next_key = self.next_key.saturating_add(1);
        let path = pattern
            .filter()
            .as_byte_str()
            .slice_ref(pattern.filter().match_filter());
        let entry = Entry {
            key,
            pattern,
            value,
        };
        let slot = if entry.pattern.is_exact() {
            self.exact.entry(path.clone()).or_default()
        } else {
            trie_slot(&mut self.root, &path)
        };
        push_one(slot, entry);
        self.index.insert(key, path);
        key
    }

    /// Removes a subscription, returning its pattern and value.
    pub fn remove(&mut self, key: SubscriptionKey) -> Option<(Pattern, T)> {
        let path = self.index.remove(&key)?;
        let entry = if path.split('/').any(|l| l == "+" || l == "#") {
            remove_from_node(&mut self.root, Some(&path), key)
        } else {
            let entries = self.exact.get_mut(path.as_str())?;
            let entry = take_entry(entries, key);
            if entries.is_empty() {
                self.exact.remove(path.as_str());
            }
            entry
        };
        entry.map(|e| (e.pattern, e.value))
    }

    /// The value of a subscription.
    pub fn get(&self, key: SubscriptionKey) -> Option<&T> {
        self.entry(key).map(|e| &e.value)
    }

    /// The pattern of a subscription.
    pub fn pattern(&self, key: SubscriptionKey) -> Option<&Pattern> {
        self.entry(key).map(|e| &e.pattern)
    }

    fn entry(&self, key: SubscriptionKey) -> Option<&Entry<T>> {
        let path = self.index.get(&key)?;
        if let Some(entries) = self.exact.get(path.as_str()) {
            return entries.iter().find(|e| e.key == key);
        }
        let mut node = &self.root;
        let mut rest = Some(path.as_str());
        while let Some(r) = rest {
            let (level, tail) = split_level(r);
            if level == "#" {
                return node.hash.iter().find(|e| e.key == key);
            }
            node = if level == "+" {
                node.plus.as_deref()?
            } else {
                node.literal.get(level)?
            };
            rest = tail;
        }
        node.here.iter().find(|e| e.key == key)
    }

    /// Calls `f` for every subscription `topic` reaches, without allocating.
    pub fn for_each_match<'a>(&'a self, topic: &'a str, mut f: impl FnMut(Match<'a, T>)) {
        if let Some(entries) = self.exact.get(topic) {
            emit(entries, topic, &mut f);
        }
        // Filters that start with a wildcard do not match `$` topics [MQTT-4.7.2-1].
        let dollar = topic.starts_with('$');
        if !dollar {
            emit(&self.root.hash, topic, &mut f);
        }
        let (level, tail) = split_level(topic);
        if let Some(child) = self.root.literal.get(level) {
            walk(child, tail, topic, &mut f);
        }
        if let (false, Some(child)) = (dollar, self.root.plus.as_deref()) {
            walk(child, tail, topic, &mut f);
        }
    }

    /// Every subscription `topic` reaches.
    pub fn matches<'a>(&'a self, topic: &'a str) -> Vec<Match<'a, T>> {
        let mut out = Vec::new();
        self.for_each_match(topic, |m| out.push(m));
        out
    }

    /// Whether `topic` reaches any subscription.
    pub fn has_match(&self, topic: &str) -> bool {
        let mut found = false;
        self.for_each_match(topic, |_| found = true);
        found
    }

    /// All subscriptions, in key (insertion) order: for inspectors and session listings.
    pub fn iter(&self) -> impl Iterator<Item = (SubscriptionKey, &Pattern, &T)> {
        let mut keys: Vec<SubscriptionKey> = self.index.keys().copied().collect();
        keys.sort_unstable();
        keys.into_iter()
            .filter_map(move |k| self.entry(k).map(|e| (k, &e.pattern, &e.value)))
    }
}

fn emit<'a, T>(entries: &'a [Entry<T>], topic: &'a str, f: &mut impl FnMut(Match<'a, T>)) {
    for e in entries {
        f(Match {
            key: e.key,
            pattern: &e.pattern,
            value: &e.value,
            topic,
        });
    }
}

/// Matches the levels in `rest` (`None`: all consumed) below `node`.
fn walk<'a, T>(
    node: &'a Node<T>,
    rest: Option<&str>,
    topic: &'a str,
    f: &mut impl FnMut(Match<'a, T>),
) {
    emit(&node.hash, topic, f);
    let Some(rest) = rest else {
        return emit(&node.here, topic, f);
    };
    let (level, tail) = split_level(rest);
    if let Some(child) = node.literal.get(level) {
        walk(child, tail, topic, f);
    }
    if let Some(child) = node.plus.as_deref() {
        walk(child, tail, topic, f);
    }
}

/// The list a wildcard filter's subscriptions go in, creating the nodes on its path.
fn trie_slot<'a, T>(root: &'a mut Node<T>, path: &ByteStr) -> &'a mut Vec<Entry<T>> {
    let mut node = root;
    for level in path.split('/') {
        match level {
            "#" => return &mut node.hash,
            "+" => node = node.plus.get_or_insert_with(Default::default),
            _ => node = node.literal.entry(path.slice_ref(level)).or_default(),
        }
    }
    &mut node.here
}

/// Most filters have one subscriber: the first gets a vector of one, not the four a first
/// `push` reserves (per subscription, that was most of the tree's memory in a page).
fn push_one<T>(entries: &mut Vec<Entry<T>>, entry: Entry<T>) {
    if entries.capacity() == 0 {
        entries.reserve_exact(1);
    }
    entries.push(entry);
}

fn take_entry<T>(entries: &mut Vec<Entry<T>>, key: SubscriptionKey) -> Option<Entry<T>> {
    let i = entries.iter().position(|e| e.key == key)?;
    Some(entries.remove(i))
}

/// Removes the entry along `rest` and prunes the nodes it leaves empty.
fn remove_from_node<T>(
    node: &mut Node<T>,
    rest: Option<&str>,
    key: SubscriptionKey,
) -> Option<Entry<T>> {
    let Some(rest) = rest else {
        return take_entry(&mut node.here, key);
    };
    let (level, tail) = split_level(rest);
    match level {
        "#" => take_entry(&mut node.hash, key),
        "+" => {
            let child = node.plus.as_deref_mut()?;
            let entry = remove_from_node(child, tail, key);
            if child.is_empty() {
                node.plus = None;
            }
            entry
        }
        _ => {
            let child = node.literal.get_mut(level)?;
            let entry = remove_from_node(child, tail, key);
            if child.is_empty() {
                node.literal.remove(level);
            }
            entry
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Binding;

    fn tree(filters: &[&str]) -> (SubscriptionTree<usize>, Vec<SubscriptionKey>) {
        let mut t = SubscriptionTree::new();
        let keys = filters
            .iter()
            .enumerate()
            .map(|(i, f)| t.insert(Pattern::parse(*f).unwrap(), i))
            .collect();
        (t, keys)
    }

    fn hits(t: &SubscriptionTree<usize>, topic: &str) -> Vec<usize> {
        let mut v: Vec<usize> = t.matches(topic).iter().map(|m| *m.value).collect();
        v.sort_unstable();
        v
    }

    #[test]
    fn spec_edge_cases() {
        let (t, _) = tree(&[
            "a/b", "a/b/#", "a/b/+", "#", "+/b", "a//b", "+", "a/+/b", "$SYS/#", "+/+",
        ]);
        assert_eq!(hits(&t, "a/b"), [0, 1, 3, 4, 9]); // a/b/# also matches its parent; a/b/+ does not
        assert_eq!(hits(&t, "a/b/c"), [1, 2, 3]);
        assert_eq!(hits(&t, "a//b"), [3, 5, 7]); // empty levels are levels
        assert_eq!(hits(&t, "a"), [3, 6]);
        assert_eq!(hits(&t, "/b"), [3, 4, 9]);
        assert_eq!(hits(&t, "$SYS/x"), [8]); // # and + do not match $ topics
        assert_eq!(hits(&t, "$SYS"), [8]);
    }

    #[test]
    fn insertion_order_per_filter_and_duplicates() {
        let (t, keys) = tree(&["x/+", "x/y", "x/+", "x/y"]);
        let order: Vec<usize> = t.matches("x/y").iter().map(|m| *m.value).collect();
        assert_eq!(order, [1, 3, 0, 2]);
        assert_eq!(t.len(), 4);
        assert_eq!(t.get(keys[2]), Some(&2));
        assert_eq!(t.pattern(keys[0]).unwrap().as_str(), "x/+");
    }

    #[test]
    fn named_wildcards_bind_per_subscription() {
        let (t, _) = tree(&["truck/+id/#rest", "truck/+/temp", "truck/#all"]);
        let ms = t.matches("truck/7/temp");
        assert_eq!(ms.len(), 3);
        let by_value = |v: usize| ms.iter().find(|m| *m.value == v).unwrap().bindings();
        assert_eq!(by_value(0).get("id"), Some(&Binding::One("7".into())));
        assert_eq!(
            by_value(0).get("rest"),
            Some(&Binding::Rest(vec!["temp".into()]))
        );
        assert!(by_value(1).is_empty());
        assert_eq!(
            by_value(2).get("all"),
            Some(&Binding::Rest(vec!["7".into(), "temp".into()]))
        );
        let parent = t.matches("truck/7");
        assert_eq!(parent.len(), 2);
        assert!(
            parent
                .iter()
                .any(|m| m.bindings().get("rest") == Some(&Binding::Rest(vec![])))
        );
    }

    #[test]
    fn remove_frees_nodes() {
        let (mut t, keys) = tree(&["a/+/c/#", "a/+id/c", "a/b", "+/b"]);
        for (i, k) in keys.iter().enumerate() {
            let (pattern, value) = t.remove(*k).unwrap();
            assert_eq!(value, i);
            assert!(!pattern.as_str().is_empty());
            assert_eq!(t.remove(*k).map(|(_, v)| v), None);
        }
        assert!(t.is_empty());
        assert!(t.root.is_empty() && t.exact.is_empty());
        assert!(t.matches("a/b/c").is_empty());
    }

    #[test]
    fn remove_keeps_siblings() {
        let (mut t, keys) = tree(&["a/+", "a/+", "a/b/#"]);
        t.remove(keys[0]);
        assert_eq!(hits(&t, "a/b"), [1, 2]);
        t.remove(keys[2]);
        assert_eq!(hits(&t, "a/b"), [1]);
        assert!(t.root.literal["a"].literal.is_empty());
    }

    #[test]
    fn shared_subscriptions_match_their_inner_filter() {
        let (t, _) = tree(&["$share/g/jobs/+", "jobs/#"]);
        let ms = t.matches("jobs/1");
        assert_eq!(ms.len(), 2);
        assert!(ms.iter().any(|m| m.pattern.share_group() == Some("g")));
        assert!(t.has_match("jobs"));
        assert!(!t.has_match("other"));
    }
}
