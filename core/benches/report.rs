//! Prints "ours vs peer" ratios from the estimates criterion just wrote, so each benchmark run
//! states its own comparison (both sides measured in the same run, on the same machine).

use std::path::PathBuf;

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
