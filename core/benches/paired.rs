//! Paired measurement for a shared, noisy machine: ours and a peer's code take turns.

use std::time::Instant;

/// Alternates short timed runs of `ours` and `theirs` and prints the median of the per-round
/// speed ratios. On a shared machine, slow phases then hit both sides of a round alike, which
/// separate criterion groups cannot promise.
pub fn paired(label: &str, peer: &str, mut ours: impl FnMut(), mut theirs: impl FnMut()) {
    const ROUNDS: usize = 201;
    const ITERS: usize = 2_000;
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return;
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
    let at = |q: usize| {
        ratios
            .get(q * (ROUNDS - 1) / 4)
            .copied()
            .unwrap_or(f64::NAN)
    };
    println!(
        "PAIRED RATIO {label}: pubzub-core is {:.2}x {peer}'s speed (median of {ROUNDS} alternating rounds of {ITERS}; quartiles {:.2} to {:.2})",
        at(2),
        at(1),
        at(3)
    );
}
