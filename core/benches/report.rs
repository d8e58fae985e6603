//! Prints "ours vs peer" ratios from the estimates criterion just wrote, so each benchmark run
//! states its own comparison (both sides measured in the same run, on the same machine).

use std::{path::PathBuf, time::Instant};

/// Where criterion keeps its estimates: `<workspace target dir>/criterion`.
fn criterion_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("criterion")
}

/// Time per iteration in nanoseconds of `group/function` from the latest run: the slope of
/// criterion's linear regression when it has one (what it prints as "time"), else the mean.
pub fn mean_ns(group: &str, function: &str) -> Option<f64> {
    let path = criterion_dir()
        .join(group)
        .join(function)
        .join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json["slope"]["point_estimate"]
        .as_f64()
        .or_else(|| json["mean"]["point_estimate"].as_f64())
}

/// One line per peer: our mean, theirs, and how many times faster we are.
pub fn print_ratios(group: &str, ours: &str, peers: &[&str]) {
    let Some(us) = mean_ns(group, ours) else {
        println!("{group}: no estimate for {ours} (run without --test / a filter?)");
        return;
    };
    for peer in peers {
        match mean_ns(group, peer) {
            Some(them) => println!(
                "RATIO {group}: {ours} {us:.1} ns, {peer} {them:.1} ns -> {ours} is {:.2}x {peer}'s speed",
                them / us
            ),
            None => println!("{group}: no estimate for {peer}"),
        }
    }
}

/// Alternates short timed runs of `ours` and `theirs` and prints the median of the per-round
/// speed ratios. On a shared machine, slow phases then hit both sides of a round alike, which
/// separate criterion groups cannot promise.
pub fn paired(label: &str, peer: &str, mut ours: impl FnMut(), mut theirs: impl FnMut()) {
    const ROUNDS: usize = 201;
    const ITERS: usize = 2_000;
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return;
    }
    let mut time = |f: &mut dyn FnMut()| {
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
