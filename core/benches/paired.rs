//! Paired measurement for a shared, noisy machine: ours and a peer's code take turns.

use std::time::Instant;

/// Rounds per comparison, and runs of each side per round.
const ROUNDS: usize = 201;
const ITERS: usize = 2_000;

/// The median and quartiles of the per-round ratios `theirs / ours` (how many times `ours`'s
/// speed is of `theirs`), or `None` when the bench only runs as a test or lists itself.
fn ratios(mut ours: impl FnMut(), mut theirs: impl FnMut()) -> Option<[f64; 3]> {
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return None;
    }
    let time = |f: &mut dyn FnMut()| {
        let start = Instant::now();
        for _ in 0..ITERS {
            f();
        }
        start.elapsed().as_secs_f64()
    };
    let mut ratios: Vec<f64> = (0..ROUNDS)
        .map(|round| {
            // Who goes first alternates too.
            let (us, them) = if round % 2 == 0 {
                let us = time(&mut ours);
                (us, time(&mut theirs))
            } else {
                let them = time(&mut theirs);
                (time(&mut ours), them)
            };
            them / us
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    let at = |q: usize| ratios[q * (ROUNDS - 1) / 4];
    Some([at(2), at(1), at(3)])
}

/// A named piece of work to time against a floor.
pub type Step<'a> = (&'a str, Box<dyn FnMut() + 'a>);

/// Alternates short timed runs of `ours` and `theirs` and prints the median of the per-round
/// speed ratios. On a shared machine, slow phases then hit both sides of a round alike, which
/// separate criterion groups cannot promise.
pub fn paired(label: &str, peer: &str, ours: impl FnMut(), theirs: impl FnMut()) {
    if let Some([median, low, high]) = ratios(ours, theirs) {
        println!(
            "PAIRED RATIO {label}: pubzub-core is {median:.2}x {peer}'s speed (median of {ROUNDS} alternating rounds of {ITERS}; quartiles {low:.2} to {high:.2})"
        );
    }
}

/// How many times as long as `floor` each of `steps` takes, paired round by round: what a
/// benchmark's rules cost every implementation before it does any work of its own.
pub fn floor(label: &str, floor: &str, mut base: impl FnMut(), steps: Vec<Step<'_>>) {
    let mut parts = Vec::new();
    for (name, step) in steps {
        match ratios(&mut base, step) {
            Some([median, ..]) => parts.push(format!("{name} {median:.1}x")),
            None => return,
        }
    }
    println!(
        "FLOOR {label}, in times of {floor} (paired medians): {}",
        parts.join(", ")
    );
}
