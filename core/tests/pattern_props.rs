//! `Pattern` against a reference written level by level: for random pattern strings from a
//! small alphabet (names, wildcards in and out of place, share prefixes), parsing succeeds
//! exactly when the names are plain and the wire form (names dropped) is a valid filter; the
//! wire form, the share group and exactness are what the levels say; and a matching topic
//! binds each `+name` to its level and each `#name` to the levels from there on.

use proptest::{collection::vec, prelude::*, sample::select};
use pubzub_core::{Binding, Pattern, TopicFilter};

fn level() -> impl Strategy<Value = String> {
    select(vec![
        "a", "b", "", "+", "#", "+n", "#r", "+m", "a+", "#r/x", "+#",
    ])
    .prop_map(str::to_owned)
}

/// Drops the names of the wildcards of one level.
fn wire_level(level: &str) -> &str {
    match level.as_bytes().first() {
        Some(b'+') => "+",
        Some(b'#') => "#",
        _ => level,
    }
}

proptest! {
    #[test]
    fn parses_like_the_level_by_level_reference(levels in vec(level(), 1..5), shared in any::<bool>(), topic in vec(select(vec!["a", "b", ""]), 1..6)) {
        let body = levels.join("/");
        let source = if shared { format!("$share/g/{body}") } else { body.clone() };
        let split: Vec<&str> = body.split('/').collect();
        let names_ok = split.iter().all(|l| {
            let name = if l.starts_with(['+', '#']) { &l[1..] } else { l };
            !name.contains(['+', '#'])
        });
        let wire_body = split.iter().map(|l| wire_level(l)).collect::<Vec<_>>().join("/");
        let wire = if shared { format!("$share/g/{wire_body}") } else { wire_body.clone() };
        let valid = names_ok && TopicFilter::try_from(wire.as_str()).is_ok();
        let parsed = Pattern::parse(source.as_str());
        prop_assert_eq!(parsed.is_ok(), valid, "{}", source);
        let Ok(p) = parsed else { return Ok(()) };
        prop_assert_eq!(p.as_str(), source.as_str());
        prop_assert_eq!(p.filter().as_str(), wire.as_str());
        prop_assert_eq!(p.share_group(), shared.then_some("g"));
        prop_assert_eq!(p.is_exact(), !split.iter().any(|l| l.starts_with(['+', '#'])));
        let topic = topic.join("/");
        let Some(bindings) = p.bind(&topic) else {
            prop_assert!(!pubzub_core::topic::filter_matches(&wire_body, &topic));
            return Ok(());
        };
        let topic_levels: Vec<&str> = topic.split('/').collect();
        let mut expected = Vec::new();
        for (i, l) in split.iter().enumerate() {
            match (l.as_bytes().first(), &l[l.len().min(1)..]) {
                (Some(b'+'), name) if !name.is_empty() => expected.push((name.to_owned(), Binding::One(topic_levels[i].to_owned()))),
                (Some(b'#'), name) if !name.is_empty() => expected.push((name.to_owned(), Binding::Rest(topic_levels.get(i..).unwrap_or_default().iter().map(|s| s.to_string()).collect()))),
                _ => {}
            }
        }
        let got: Vec<(String, Binding)> = bindings.iter().map(|(n, b)| (n.to_owned(), b.clone())).collect();
        prop_assert_eq!(got, expected, "{} on {}", source, topic);
    }
}
