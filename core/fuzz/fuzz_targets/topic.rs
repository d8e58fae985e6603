//! Topic name, filter and pattern parsing on arbitrary strings, and matching through the tree
//! against the reference matcher: never a panic, never a disagreement.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pubzub_core::{Pattern, SubscriptionTree, TopicFilter, TopicName, topic::filter_matches};

fuzz_target!(|data: &str| {
    let (pattern, topic) = data.split_once('\n').unwrap_or((data, "a/b"));
    let _ = TopicFilter::try_from(pattern);
    let Ok(pattern) = Pattern::parse(pattern) else { return };
    let Ok(topic) = TopicName::try_from(topic) else { return };
    let mut tree = SubscriptionTree::new();
    let key = tree.insert(pattern.clone(), ());
    let hit = tree.matches(&topic).iter().any(|m| m.key == key);
    assert_eq!(hit, filter_matches(pattern.filter().match_filter(), &topic));
    if hit {
        assert!(pattern.bind(&topic).is_some());
    }
    assert!(tree.remove(key).is_some() && tree.is_empty());
});
