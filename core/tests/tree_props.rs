//! The subscription tree and the retained store against naive references: for random filters,
//! patterns and topics from a small alphabet (so that they collide often), the tree finds
//! exactly the subscriptions that "match every filter one by one" finds, with the same
//! bindings, also after random removals; the retained store finds exactly the topics a scan
//! over all of them finds.

use std::collections::BTreeSet;

use proptest::{collection::vec, prelude::*, sample::select};
use pubzub_core::{
    Pattern, RetainedStore, SubscriptionKey, SubscriptionTree, Timestamp, TopicName,
    topic::filter_matches,
};

fn level() -> impl Strategy<Value = String> {
    select(vec!["a", "b", "", "$x"]).prop_map(str::to_owned)
}

fn topic() -> impl Strategy<Value = String> {
    vec(level(), 1..5).prop_map(|levels| levels.join("/"))
}

fn pattern() -> impl Strategy<Value = Pattern> {
    let level = prop_oneof![
        4 => level(),
        2 => Just("+".to_owned()),
        1 => Just("+n".to_owned()),
    ];
    let end = prop_oneof![Just(None), Just(Some("#")), Just(Some("#rest"))];
    (vec(level, 1..5), end, any::<bool>()).prop_filter_map(
        "valid pattern",
        |(levels, end, shared)| {
            let mut p = levels.join("/");
            if let Some(end) = end {
                p = format!("{p}/{end}");
            }
            if shared {
                p = format!("$share/g/{p}");
            }
            Pattern::parse(p).ok()
        },
    )
}

fn naive(subs: &[(SubscriptionKey, Pattern)], topic: &str) -> BTreeSet<SubscriptionKey> {
    subs.iter()
        .filter(|(_, p)| filter_matches(p.filter().match_filter(), topic))
        .map(|(k, _)| *k)
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn tree_matches_the_naive_scan(patterns in vec(pattern(), 0..40), topics in vec(topic(), 1..20), removals in vec(any::<prop::sample::Index>(), 0..20)) {
        let mut tree = SubscriptionTree::new();
        let mut subs = Vec::new();
        for p in &patterns {
            let key = tree.insert(p.clone(), p.as_str().to_owned());
            subs.push((key, p.clone()));
        }
        let check = |tree: &SubscriptionTree<String>, subs: &[(SubscriptionKey, Pattern)]| -> Result<(), TestCaseError> {
            for t in &topics {
                let matches = tree.matches(t);
                let got: BTreeSet<SubscriptionKey> = matches.iter().map(|m| m.key).collect();
                prop_assert_eq!(got.len(), matches.len(), "no subscription twice");
                prop_assert_eq!(&got, &naive(subs, t), "topic {}", t);
                for m in &matches {
                    prop_assert_eq!(Some(m.bindings()), m.pattern.bind(t));
                    prop_assert_eq!(m.value, m.pattern.as_str());
                }
            }
            Ok(())
        };
        check(&tree, &subs)?;
        for r in removals {
            if subs.is_empty() { break; }
            let (key, pattern) = subs.remove(r.index(subs.len()));
            prop_assert_eq!(tree.remove(key).map(|(p, _)| p), Some(pattern));
        }
        prop_assert_eq!(tree.len(), subs.len());
        check(&tree, &subs)?;
    }

    #[test]
    fn retained_lookup_matches_the_naive_scan(topics in vec(topic(), 0..40), filters in vec(pattern(), 1..20)) {
        let mut store = RetainedStore::new();
        let mut all = BTreeSet::new();
        for t in topics {
            let Ok(name) = TopicName::try_from(t.as_str()) else { continue };
            store.set(name, t.clone(), None);
            all.insert(t);
        }
        prop_assert_eq!(store.len(), all.len());
        for p in filters {
            let filter = p.filter().match_filter();
            let got: BTreeSet<String> = store.matching(filter, Timestamp(0)).iter().map(|r| r.message.clone()).collect();
            let want: BTreeSet<String> = all.iter().filter(|t| filter_matches(filter, t)).cloned().collect();
            prop_assert_eq!(got, want, "filter {}", filter);
        }
    }
}
