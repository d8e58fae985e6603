//! `LevelMap`: the map behind the tree's and the retained store's levels and the client's topic
//! aliases.
//!
//! The page build (without the `server` feature) uses a sorted vector with binary search: a
//! page holds few keys per level, and one small generic implementation is several kilobytes
//! less WebAssembly than a hash table per key and value type.
//!
//! The server build holds up to millions of keys in one level (`devices/<id>/...`) and one or
//! two in most (the `+/state` under each device). It keeps a level of up to
//! `small::SMALL` keys as a sorted vector exactly as long as it needs to be, and a larger one
//! as a hash map: a hash map's smallest table has room for 3 entries and costs about 550 bytes
//! with the tree's nodes in it, which was a tenth of an idle client's memory.

#[cfg(feature = "server")]
pub(crate) use small::SmallMap as LevelMap;

#[cfg(not(feature = "server"))]
pub(crate) use sorted::SortedVecMap as LevelMap;

pub use sorted::SortedVecMap;

/// The tree's map of exact filters, the one map that holds every exact subscription of a
/// page: a hash map in both builds (a sorted vector would move half of it on every insert).
/// The page hashes with FNV-1a: a few instructions of code, and page topics are not
/// attacker-chosen keys in a shared server.
#[cfg(feature = "server")]
pub(crate) type ExactMap<K, V> = std::collections::HashMap<K, V>;

#[cfg(not(feature = "server"))]
pub(crate) type ExactMap<K, V> =
    std::collections::HashMap<K, V, std::hash::BuildHasherDefault<fnv::Fnv>>;

#[cfg(not(feature = "server"))]
mod fnv {
    /// FNV-1a, 32 bits.
    pub(crate) struct Fnv(u32);

    impl Default for Fnv {
        fn default() -> Self {
            Fnv(0x811c_9dc5)
        }
    }

    impl std::hash::Hasher for Fnv {
        fn write(&mut self, bytes: &[u8]) {
            for b in bytes {
                self.0 = (self.0 ^ u32::from(*b)).wrapping_mul(0x0100_0193);
            }
        }

        fn finish(&self) -> u64 {
            u64::from(self.0)
        }
    }
}

mod sorted {
    use std::borrow::Borrow;

    /// A map kept as a vector sorted by key, with the part of `HashMap`'s API it needs: for
    /// maps that are many and small (the page's tree levels, a server session's
    /// subscriptions), where a hash table's smallest allocation would cost more than the
    /// entries.
    #[derive(Debug, Clone)]
    pub struct SortedVecMap<K, V> {
        entries: Vec<(K, V)>,
    }

    impl<K, V> Default for SortedVecMap<K, V> {
        fn default() -> Self {
            SortedVecMap {
                entries: Vec::new(),
            }
        }
    }

    /// A vacant or occupied place for a key, as from `HashMap::entry`.
    pub struct Entry<'a, K, V> {
        map: &'a mut SortedVecMap<K, V>,
        key: K,
        at: Result<usize, usize>,
    }

    impl<'a, K, V: Default> Entry<'a, K, V> {
        pub fn or_default(self) -> &'a mut V {
            let at = match self.at {
                Ok(at) => at,
                Err(at) => {
                    self.map.make_room();
                    self.map.entries.insert(at, (self.key, V::default()));
                    at
                }
            };
            &mut self.map.entries[at].1
        }
    }

    /// Up to this many entries, the vector grows one entry at a time (a level holds one or two
    /// keys far more often than four, the vector's first step otherwise).
    const EXACT: usize = 8;

    impl<K, V> SortedVecMap<K, V> {
        fn make_room(&mut self) {
            if self.entries.len() < EXACT {
                self.entries.reserve_exact(1);
            }
        }

        /// The entries, sorted by key.
        #[cfg_attr(not(feature = "server"), allow(dead_code))]
        pub fn into_entries(self) -> Vec<(K, V)> {
            self.entries
        }
    }

    // The server's `SmallMap` wraps this and does not need all of it.
    #[cfg_attr(feature = "server", allow(dead_code))]
    impl<K: Ord, V> SortedVecMap<K, V> {
        pub fn new() -> Self {
            Self::default()
        }

        pub fn len(&self) -> usize {
            self.entries.len()
        }

        pub fn is_empty(&self) -> bool {
            self.entries.is_empty()
        }

        pub fn clear(&mut self) {
            self.entries.clear()
        }

        fn find<Q: Ord + ?Sized>(&self, key: &Q) -> Result<usize, usize>
        where
            K: Borrow<Q>,
        {
            self.entries.binary_search_by(|(k, _)| k.borrow().cmp(key))
        }

        pub fn get<Q: Ord + ?Sized>(&self, key: &Q) -> Option<&V>
        where
            K: Borrow<Q>,
        {
            self.find(key).ok().map(|at| &self.entries[at].1)
        }

        pub fn get_mut<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<&mut V>
        where
            K: Borrow<Q>,
        {
            self.find(key).ok().map(|at| &mut self.entries[at].1)
        }

        pub fn insert(&mut self, key: K, value: V) -> Option<V> {
            // Keys that only grow (subscription keys) go last without a search.
            if self.entries.last().is_none_or(|(last, _)| *last < key) {
                self.make_room();
                self.entries.push((key, value));
                return None;
            }
            match self.find(&key) {
                Ok(at) => Some(std::mem::replace(&mut self.entries[at].1, value)),
                Err(at) => {
                    self.make_room();
                    self.entries.insert(at, (key, value));
                    None
                }
            }
        }

        pub fn remove<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<V>
        where
            K: Borrow<Q>,
        {
            let at = self.find(key).ok()?;
            Some(self.entries.remove(at).1)
        }

        pub fn entry(&mut self, key: K) -> Entry<'_, K, V> {
            let at = self.find(&key);
            Entry { map: self, key, at }
        }

        pub fn keys(&self) -> impl Iterator<Item = &K> {
            self.entries.iter().map(|(k, _)| k)
        }

        pub fn values(&self) -> impl Iterator<Item = &V> {
            self.entries.iter().map(|(_, v)| v)
        }

        /// The entries in the order of their keys.
        pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
            self.into_iter()
        }
    }

    impl<'a, K, V> IntoIterator for &'a SortedVecMap<K, V> {
        type Item = (&'a K, &'a V);
        type IntoIter =
            std::iter::Map<std::slice::Iter<'a, (K, V)>, fn(&'a (K, V)) -> (&'a K, &'a V)>;
        fn into_iter(self) -> Self::IntoIter {
            self.entries.iter().map(|(k, v)| (k, v))
        }
    }

    impl<K: Ord + Borrow<str>, V> std::ops::Index<&str> for SortedVecMap<K, V> {
        type Output = V;
        fn index(&self, key: &str) -> &V {
            self.get(key).expect("key present")
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn a_small_map_takes_no_more_room_than_its_entries() {
            let mut m = SortedVecMap::new();
            m.insert(2u32, ());
            assert_eq!(m.entries.capacity(), 1);
            *m.entry(1).or_default() = ();
            assert_eq!(m.entries.capacity(), 2);
        }

        #[test]
        fn behaves_like_a_map() {
            let mut m = SortedVecMap::new();
            assert!(m.is_empty());
            assert_eq!(m.insert("b".to_string(), 2), None);
            assert_eq!(m.insert("a".to_string(), 1), None);
            assert_eq!(m.insert("b".to_string(), 3), Some(2));
            *m.entry("c".to_string()).or_default() += 4;
            *m.entry("a".to_string()).or_default() += 10;
            assert_eq!(m.keys().cloned().collect::<Vec<_>>(), ["a", "b", "c"]);
            assert_eq!(m.values().copied().collect::<Vec<_>>(), [11, 3, 4]);
            assert_eq!((m.get("b"), m["c"], m.len()), (Some(&3), 4, 3));
            *m.get_mut("b").unwrap() = 5;
            assert_eq!(m.remove("b"), Some(5));
            assert_eq!((m.remove("b"), m.get("b"), m.len()), (None, None, 2));
            m.clear();
            assert!(m.is_empty());
        }
    }
}

#[cfg(feature = "server")]
mod small {
    use std::borrow::Borrow;
    use std::collections::HashMap;
    use std::collections::hash_map;
    use std::hash::Hash;

    use super::sorted::{self, SortedVecMap};

    /// Beyond this many keys a level becomes a hash map (and stays one).
    pub(crate) const SMALL: usize = 8;

    /// A sorted vector while small, a hash map once large: the subset of `HashMap`'s API the
    /// crate uses.
    pub(crate) enum SmallMap<K, V> {
        Few(SortedVecMap<K, V>),
        /// Boxed, so that the many small levels are not sized by the large ones (24 bytes
        /// for the vector against 48 for the map, in every node of the tree).
        #[allow(clippy::box_collection)]
        Many(Box<HashMap<K, V>>),
    }

    impl<K, V> Default for SmallMap<K, V> {
        fn default() -> Self {
            SmallMap::Few(SortedVecMap::default())
        }
    }

    /// A place for a key, as from `HashMap::entry`.
    pub(crate) enum Entry<'a, K, V> {
        Few(sorted::Entry<'a, K, V>),
        Many(hash_map::Entry<'a, K, V>),
    }

    impl<'a, K, V: Default> Entry<'a, K, V> {
        pub fn or_default(self) -> &'a mut V {
            match self {
                Entry::Few(e) => e.or_default(),
                Entry::Many(e) => e.or_default(),
            }
        }
    }

    /// One of two iterators over the same items.
    pub(crate) enum Either<A, B> {
        A(A),
        B(B),
    }

    impl<A: Iterator, B: Iterator<Item = A::Item>> Iterator for Either<A, B> {
        type Item = A::Item;
        fn next(&mut self) -> Option<A::Item> {
            match self {
                Either::A(a) => a.next(),
                Either::B(b) => b.next(),
            }
        }
    }

    impl<K: Ord + Hash, V> SmallMap<K, V> {
        pub fn new() -> Self {
            Self::default()
        }

        pub fn len(&self) -> usize {
            match self {
                SmallMap::Few(m) => m.len(),
                SmallMap::Many(m) => m.len(),
            }
        }

        pub fn is_empty(&self) -> bool {
            self.len() == 0
        }

        pub fn clear(&mut self) {
            *self = SmallMap::default();
        }

        pub fn get<Q: Ord + Hash + Eq + ?Sized>(&self, key: &Q) -> Option<&V>
        where
            K: Borrow<Q>,
        {
            match self {
                SmallMap::Few(m) => m.get(key),
                SmallMap::Many(m) => m.get(key),
            }
        }

        pub fn get_mut<Q: Ord + Hash + Eq + ?Sized>(&mut self, key: &Q) -> Option<&mut V>
        where
            K: Borrow<Q>,
        {
            match self {
                SmallMap::Few(m) => m.get_mut(key),
                SmallMap::Many(m) => m.get_mut(key),
            }
        }

        /// Makes it a hash map if `key` would be one key too many for the vector.
        fn grow_for(&mut self, key: &K) {
            let SmallMap::Few(few) = self else {
                return;
            };
            if few.len() < SMALL || few.get(key).is_some() {
                return;
            }
            let entries = std::mem::take(few).into_entries();
            let mut many = HashMap::with_capacity(entries.len() + 1);
            many.extend(entries);
            *self = SmallMap::Many(Box::new(many));
        }

        pub fn insert(&mut self, key: K, value: V) -> Option<V> {
            self.grow_for(&key);
            match self {
                SmallMap::Few(m) => m.insert(key, value),
                SmallMap::Many(m) => m.insert(key, value),
            }
        }

        pub fn remove<Q: Ord + Hash + Eq + ?Sized>(&mut self, key: &Q) -> Option<V>
        where
            K: Borrow<Q>,
        {
            match self {
                SmallMap::Few(m) => m.remove(key),
                SmallMap::Many(m) => m.remove(key),
            }
        }

        pub fn entry(&mut self, key: K) -> Entry<'_, K, V> {
            self.grow_for(&key);
            match self {
                SmallMap::Few(m) => Entry::Few(m.entry(key)),
                SmallMap::Many(m) => Entry::Many(m.entry(key)),
            }
        }

        pub fn keys(&self) -> impl Iterator<Item = &K> {
            match self {
                SmallMap::Few(m) => Either::A(m.keys()),
                SmallMap::Many(m) => Either::B(m.keys()),
            }
        }

        pub fn values(&self) -> impl Iterator<Item = &V> {
            match self {
                SmallMap::Few(m) => Either::A(m.values()),
                SmallMap::Many(m) => Either::B(m.values()),
            }
        }
    }

    impl<'a, K, V> IntoIterator for &'a SmallMap<K, V> {
        type Item = (&'a K, &'a V);
        type IntoIter =
            Either<<&'a SortedVecMap<K, V> as IntoIterator>::IntoIter, hash_map::Iter<'a, K, V>>;
        fn into_iter(self) -> Self::IntoIter {
            match self {
                SmallMap::Few(m) => Either::A(m.into_iter()),
                SmallMap::Many(m) => Either::B(m.iter()),
            }
        }
    }

    impl<K: Ord + Hash + Borrow<str>, V> std::ops::Index<&str> for SmallMap<K, V> {
        type Output = V;
        fn index(&self, key: &str) -> &V {
            self.get(key).expect("key present")
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn stays_a_map_across_the_switch_to_a_hash_map() {
            let mut m = SmallMap::new();
            for i in (0..20u32).rev() {
                assert_eq!(m.insert(i, i * 10), None);
                assert!(matches!(m, SmallMap::Few(_)) == (m.len() <= SMALL));
            }
            assert_eq!(m.insert(3, 33), Some(30));
            *m.entry(40).or_default() += 4;
            *m.entry(3).or_default() += 1;
            assert_eq!((m.len(), m.get(&3), m.get(&40)), (21, Some(&34), Some(&4)));
            assert_eq!(m.remove(&3), Some(34));
            assert_eq!(m.get(&3), None);
            let mut keys: Vec<u32> = m.keys().copied().collect();
            keys.sort_unstable();
            assert_eq!(keys.len(), 20);
            assert_eq!(m.values().count(), 20);
            assert_eq!((&m).into_iter().count(), 20);
            m.clear();
            assert!(m.is_empty() && matches!(m, SmallMap::Few(_)));
        }

        #[test]
        fn a_full_vector_takes_a_key_it_holds_without_switching() {
            let mut m = SmallMap::new();
            for i in 0..SMALL as u32 {
                m.insert(i, ());
            }
            m.insert(0, ());
            *m.entry(1).or_default() = ();
            assert!(matches!(m, SmallMap::Few(_)));
        }
    }
}
