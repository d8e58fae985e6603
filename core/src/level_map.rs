//! `LevelMap`: the map behind the tree's and the retained store's levels and the client's topic
//! aliases.
//!
//! The server build uses the standard hash map: it holds up to millions of keys. The page build
//! (without the `server` feature) uses a sorted vector with binary search instead: a page holds
//! few keys per level, and one small generic implementation is several kilobytes less
//! WebAssembly than a hash table per key and value type.

#[cfg(feature = "server")]
pub(crate) type LevelMap<K, V> = std::collections::HashMap<K, V>;

#[cfg(not(feature = "server"))]
pub(crate) use sorted::SortedVecMap as LevelMap;

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

#[cfg_attr(feature = "server", allow(dead_code))]
mod sorted {
    use std::borrow::Borrow;

    /// A map kept as a vector sorted by key: the subset of `HashMap`'s API the crate uses.
    pub(crate) struct SortedVecMap<K, V> {
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
    pub(crate) struct Entry<'a, K, V> {
        map: &'a mut SortedVecMap<K, V>,
        key: K,
        at: Result<usize, usize>,
    }

    impl<'a, K, V: Default> Entry<'a, K, V> {
        pub fn or_default(self) -> &'a mut V {
            let at = match self.at {
                Ok(at) => at,
                Err(at) => {
                    self.map.entries.insert(at, (self.key, V::default()));
                    at
                }
            };
            &mut self.map.entries[at].1
        }
    }

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
                self.entries.push((key, value));
                return None;
            }
            match self.find(&key) {
                Ok(at) => Some(std::mem::replace(&mut self.entries[at].1, value)),
                Err(at) => {
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
