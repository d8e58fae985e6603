//! Matching a 5-level topic against 100,000 subscriptions (10% with wildcards): the
//! subscription tree against a linear scan over every filter, in the same run.

mod report;

use std::hint::black_box;

use criterion::Criterion;
use pubzub_core::{Pattern, SubscriptionTree, topic::filter_matches};

/// A small deterministic generator, so every run measures the same data.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) as usize) % n
    }
}

const LEVELS: usize = 5;
const WORDS: usize = 12;

fn topic(rng: &mut Lcg) -> Vec<String> {
    (0..LEVELS)
        .map(|l| format!("l{l}w{}", rng.next(WORDS)))
        .collect()
}

fn filters(n: usize, rng: &mut Lcg) -> Vec<String> {
    (0..n)
        .map(|i| {
            let mut levels = topic(rng);
            if i % 10 == 0 {
                // 10% wildcard filters: one or two `+`, or a `#` tail.
                match rng.next(3) {
                    0 => levels[rng.next(LEVELS)] = "+".into(),
                    1 => {
                        levels[rng.next(LEVELS)] = "+".into();
                        levels[rng.next(LEVELS)] = "+".into();
                    }
                    _ => {
                        let keep = 1 + rng.next(LEVELS - 1);
                        levels.truncate(keep);
                        levels.push("#".into());
                    }
                }
            }
            levels.join("/")
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut rng = Lcg(7);
    let filters = filters(100_000, &mut rng);
    let mut tree = SubscriptionTree::new();
    for (i, f) in filters.iter().enumerate() {
        tree.insert(Pattern::parse(f.as_str()).expect("valid filter"), i);
    }
    let topics: Vec<String> = (0..256).map(|_| topic(&mut rng).join("/")).collect();

    // Both sides find the same subscriptions before anything is timed.
    for t in &topics {
        let mut from_tree: Vec<usize> = tree.matches(t).iter().map(|m| *m.value).collect();
        from_tree.sort_unstable();
        let from_scan: Vec<usize> = (0..filters.len())
            .filter(|&i| filter_matches(&filters[i], t))
            .collect();
        assert_eq!(from_tree, from_scan, "{t}");
    }

    let mut g = c.benchmark_group("tree_match_100k");
    let mut i = 0;
    g.bench_function("subscription-tree", |b| {
        b.iter(|| {
            i = (i + 1) % topics.len();
            let mut n = 0;
            tree.for_each_match(black_box(&topics[i]), |_| n += 1);
            black_box(n)
        })
    });
    let mut i = 0;
    g.bench_function("linear-scan", |b| {
        b.iter(|| {
            i = (i + 1) % topics.len();
            let t = black_box(&topics[i]);
            black_box(filters.iter().filter(|f| filter_matches(f, t)).count())
        })
    });
    g.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
    report::print_ratios("tree_match_100k", "subscription-tree", &["linear-scan"]);
}
