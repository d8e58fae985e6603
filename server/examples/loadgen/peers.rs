//! pubzub-server against every peer on the same workloads in the same run: Mosquitto, rumqttd
//! and nats-server, MQTT 3.1.1 for all and MQTT 5 where the peer has it, and WebSocket against
//! Mosquitto's. pubzub-server runs with its default durability (batched) and with `off`.
//! Prints a table per workload and RATIO lines against the best peer (throughput) or
//! Mosquitto (latency, memory).

use std::collections::BTreeMap;

use pubzub_core::ProtocolVersion;

use super::Error;
use super::broker::{Broker, Kind, Options, Programs};
use super::client::Endpoint;
use super::workloads::{self, Throughput};

/// One broker setup and protocol: a row of the tables.
#[derive(Debug, Clone)]
struct Setup {
    kind: Kind,
    durability: Option<&'static str>,
    version: ProtocolVersion,
    websocket: bool,
}

impl Setup {
    fn name(&self) -> String {
        let mode = match (self.kind, self.durability) {
            (Kind::Pubzub, Some(mode)) => format!(" {mode}"),
            _ => String::new(),
        };
        let version = match self.version {
            ProtocolVersion::V311 => "3.1.1",
            ProtocolVersion::V5 => "5",
        };
        let over = if self.websocket {
            " over WebSocket"
        } else {
            ""
        };
        format!("{}{mode}, MQTT {version}{over}", self.kind.name())
    }

    /// pubzub-server with the default durability: the figure the targets are about.
    fn is_ours(&self) -> bool {
        self.kind == Kind::Pubzub && self.durability == Some("batched")
    }

    fn endpoint(&self, broker: &Broker) -> Result<Endpoint, Error> {
        broker
            .endpoint(self.version, self.websocket)
            .ok_or_else(|| format!("{} has no such listener", self.name()).into())
    }

    fn start(&self, programs: &Programs) -> Result<Broker, Error> {
        Broker::start(
            self.kind,
            programs,
            Options {
                durability: self.durability,
                queues: None,
                websocket: self.websocket,
            },
        )
    }
}

/// A workload's name and whether a higher figure is better.
#[derive(Debug, Clone, PartialEq)]
struct Workload {
    name: String,
    unit: &'static str,
    higher_is_better: bool,
    /// Compared with Mosquitto (latency, memory), or with the best peer (throughput).
    against_mosquitto: bool,
    /// The ratio to reach, if the figure has one.
    target: Option<f64>,
}

impl Workload {
    fn throughput(name: &str) -> Workload {
        Workload {
            name: name.into(),
            unit: "deliveries/s",
            higher_is_better: true,
            against_mosquitto: false,
            target: Some(1.2),
        }
    }

    /// A latency percentile: the tail ones have a target (at most Mosquitto's), the median
    /// is shown for what it tells.
    fn latency(name: String, target: Option<f64>) -> Workload {
        Workload {
            name,
            unit: "µs",
            higher_is_better: false,
            against_mosquitto: true,
            target,
        }
    }

    /// The broker's CPU time (user and system) per delivery over a throughput run: it moves
    /// far less between runs than the rate does, so it shows what a change to the broker
    /// bought.
    fn cpu(throughput: &str) -> Workload {
        Workload {
            name: format!("{throughput}: broker CPU per delivery"),
            unit: "ns",
            higher_is_better: false,
            against_mosquitto: false,
            target: None,
        }
    }

    fn connect_rate() -> Workload {
        Workload {
            name: "connections/s (1,000 clients, 50 at once)".into(),
            unit: "/s",
            higher_is_better: true,
            against_mosquitto: false,
            target: Some(1.2),
        }
    }

    fn memory() -> Workload {
        Workload {
            name: "memory per idle client with one subscription (10,000 clients)".into(),
            unit: "B",
            higher_is_better: false,
            against_mosquitto: true,
            target: Some(1.0),
        }
    }

    /// The median, 99th and 99.9th percentile rows of a latency workload.
    fn percentiles(&self) -> [Workload; 3] {
        [("median", None), ("p99", Some(1.0)), ("p99.9", Some(1.0))]
            .map(|(p, target)| Workload::latency(format!("{}, {p}", self.name), target))
    }
}

/// The throughput workloads, by name: what each runs is in [`run_throughput`].
const THROUGHPUT: [&str; 5] = [
    "fan-out 1->10, QoS 0",
    "fan-out 1->1000, QoS 0",
    "fan-in 100->1 on #, QoS 0",
    "8 pairs, QoS 1, 32 in flight",
    "1 pair, QoS 1, 32 in flight",
];
const PAIR_1: usize = 4;

/// Each setup's figures per workload, over the rounds; runs that lost messages apart.
#[derive(Default)]
struct Results {
    /// By workload name and setup.
    figures: BTreeMap<(String, usize), Vec<f64>>,
    lossy: BTreeMap<(String, usize), Vec<usize>>,
    /// The workloads in the order they first ran: the order of the tables.
    order: Vec<Workload>,
}

impl Results {
    fn add(&mut self, w: &Workload, setup: usize, value: f64) {
        self.note(w);
        let key = (w.name.clone(), setup);
        self.figures.entry(key).or_default().push(value);
    }

    fn add_lossy(&mut self, w: &Workload, setup: usize, lost: usize) {
        self.note(w);
        let key = (w.name.clone(), setup);
        self.lossy.entry(key).or_default().push(lost);
    }

    fn note(&mut self, w: &Workload) {
        if !self.order.contains(w) {
            self.order.push(w.clone());
        }
    }

    fn add_throughput(&mut self, w: &Workload, setup: usize, t: Throughput) {
        if t.lost == 0 {
            self.add(w, setup, t.per_second);
        } else {
            self.add_lossy(w, setup, t.lost);
        }
    }

    fn add_latency(&mut self, w: &Workload, setup: usize, l: workloads::Latency) {
        let rows = w.percentiles().into_iter().zip([l.p50, l.p99, l.p999]);
        for (row, value) in rows {
            if l.lost > 0 {
                self.add_lossy(&row, setup, l.lost);
            } else {
                self.add(&row, setup, value);
            }
        }
    }

    fn median(&self, w: &Workload, setup: usize) -> Option<f64> {
        let v = self.figures.get(&(w.name.clone(), setup))?;
        (!v.is_empty()).then(|| super::median(v.clone()))
    }
}

fn setups(programs: &Programs) -> Vec<Setup> {
    let mut out = Vec::new();
    let mut add = |kind, durability, versions: &[ProtocolVersion], websocket| {
        for &version in versions {
            out.push(Setup {
                kind,
                durability,
                version,
                websocket,
            });
        }
    };
    let both = [ProtocolVersion::V311, ProtocolVersion::V5];
    add(Kind::Pubzub, Some("batched"), &both, false);
    add(Kind::Pubzub, Some("off"), &both, false);
    add(Kind::Mosquitto, None, &both, false);
    if programs.rumqttd.is_some() {
        add(Kind::Rumqttd, None, &both, false);
    } else {
        println!("rumqttd is not installed (scripts/bench-server.sh installs it): left out");
    }
    if programs.nats.is_some() {
        add(Kind::Nats, None, &[ProtocolVersion::V311], false);
    } else {
        println!("nats-server is not installed (apt-get install nats-server): left out");
    }
    add(Kind::Pubzub, Some("batched"), &both, true);
    add(Kind::Mosquitto, None, &both, true);
    // LOADGEN_BROKERS=rumqttd,nats-server keeps those (by name) only.
    if let Ok(keep) = std::env::var("LOADGEN_BROKERS") {
        out.retain(|s| keep.split(',').any(|k| k == s.kind.name()));
    }
    out
}

/// Runs every workload on every setup for `rounds` rounds, then latency at half the slowest
/// peer's single-pair rate, and prints the tables and RATIO lines. Each workload gets a fresh
/// broker, so that none inherits what the one before left.
pub async fn run(programs: &Programs, rounds: usize) -> Result<(), Error> {
    let setups = setups(programs);
    // LOADGEN_WORKLOADS=memory,fan-in keeps the workloads whose names contain one of those.
    let filter = std::env::var("LOADGEN_WORKLOADS").ok();
    let wants = |name: &str| {
        filter
            .as_deref()
            .is_none_or(|f| f.split(',').any(|k| name.contains(k)))
    };
    let mut results = Results::default();
    let at_2000 = Workload::latency("QoS 1 at 2,000 messages/s".into(), None);
    for round in 0..rounds {
        // Rotate the order, so that a slow phase of the machine does not hit one setup only.
        for k in 0..setups.len() {
            let i = (k + round * 3) % setups.len();
            let setup = &setups[i];
            let began = std::time::Instant::now();
            let failed = |w: &str| {
                let what = format!("{}, {w}", setup.name());
                move |e: Error| -> Error { format!("{what}: {e}").into() }
            };
            if !setup.websocket && wants("memory") {
                let broker = setup.start(programs)?;
                let ep = setup.endpoint(&broker)?;
                let m = workloads::memory(&broker, &ep, 10_000).await;
                results.add(&Workload::memory(), i, m.map_err(failed("memory"))?);
                eprintln!("  memory: {:.1} s", began.elapsed().as_secs_f64());
            }
            if !setup.websocket {
                for (which, name) in THROUGHPUT.iter().enumerate() {
                    if !wants(name) {
                        continue;
                    }
                    let broker = setup.start(programs)?;
                    let before = broker.cpu_seconds()?;
                    let t = run_throughput(which, &setup.endpoint(&broker)?).await;
                    let t = t.map_err(failed(name))?;
                    let cpu = broker.cpu_seconds()? - before;
                    results.add_throughput(&Workload::throughput(name), i, t);
                    if t.lost == 0 {
                        let per_delivery = cpu * 1e9 / t.delivered.max(1) as f64;
                        results.add(&Workload::cpu(name), i, per_delivery);
                    }
                    eprintln!("  {name}: {:.1} s", began.elapsed().as_secs_f64());
                }
            }
            if !setup.websocket && wants("connect") {
                let broker = setup.start(programs)?;
                let c = workloads::connect_rate(&setup.endpoint(&broker)?, 1_000, 50).await;
                results.add(
                    &Workload::connect_rate(),
                    i,
                    c.map_err(failed("connect rate"))?,
                );
                eprintln!("  connect: {:.1} s", began.elapsed().as_secs_f64());
            }
            if wants("latency") {
                let broker = setup.start(programs)?;
                let l = workloads::latency(&setup.endpoint(&broker)?, 2_000.0, 10_000, None).await;
                results.add_latency(&at_2000, i, l.map_err(failed("latency"))?);
            }
            eprintln!(
                "round {round} {}: done in {:.1} s",
                setup.name(),
                began.elapsed().as_secs_f64()
            );
        }
    }
    let pair_1 = Workload::throughput(THROUGHPUT[PAIR_1]);
    let slowest = (0..setups.len())
        .filter(|&i| setups[i].kind != Kind::Pubzub)
        .filter_map(|i| results.median(&pair_1, i))
        .fold(f64::INFINITY, f64::min);
    if slowest.is_finite() && wants("latency") {
        let rate = (slowest / 2.0).round();
        let at_half = Workload::latency(
            format!("QoS 1 at {rate:.0} messages/s (half the slowest peer's 1-pair rate)"),
            None,
        );
        for round in 0..rounds {
            for (i, setup) in setups.iter().enumerate() {
                let broker = setup.start(programs)?;
                let ep = setup.endpoint(&broker)?;
                let l = workloads::latency(&ep, rate, (rate * 5.0) as usize, None).await;
                let l = l.map_err(|e| format!("{}, latency at {rate}/s: {e}", setup.name()))?;
                results.add_latency(&at_half, i, l);
                eprintln!("round {round} {} at {rate:.0}/s: done", setup.name());
            }
        }
    }
    print_tables(&setups, &results);
    Ok(())
}

/// Runs throughput workload `which` of [`THROUGHPUT`].
async fn run_throughput(which: usize, ep: &Endpoint) -> Result<Throughput, Error> {
    match which {
        0 => workloads::fan_out(ep, 10, 50_000).await,
        1 => workloads::fan_out(ep, 1_000, 1_000).await,
        2 => workloads::fan_in(ep, 100, 5_000).await,
        3 => workloads::pairs(ep, 8, 20_000, 32, None).await,
        _ => workloads::pairs(ep, 1, 100_000, 32, None).await,
    }
}

fn human(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.2} M", x / 1e6)
    } else if x >= 1e4 {
        format!("{:.1} k", x / 1e3)
    } else if x >= 100.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.1}")
    }
}

fn print_tables(setups: &[Setup], results: &Results) {
    for w in &results.order {
        println!("\n{} ({})", w.name, w.unit);
        for (i, s) in setups.iter().enumerate() {
            let figure = results.median(w, i).map_or("-".into(), human);
            let key = (w.name.clone(), i);
            let lost = results
                .lossy
                .get(&key)
                .map(|l| format!("  (lost messages in {} run(s): {l:?})", l.len()))
                .unwrap_or_default();
            if results.figures.contains_key(&key) || !lost.is_empty() {
                println!("  {:<48} {figure:>10}{lost}", s.name());
            }
        }
        for (i, s) in setups.iter().enumerate().filter(|(_, s)| s.is_ours()) {
            ratio_line(setups, results, w, i, s);
        }
    }
}

/// pubzub-server (batched) against the best peer on the same protocol and transport, or
/// against Mosquitto, with the `off` figure beside it.
fn ratio_line(setups: &[Setup], results: &Results, w: &Workload, ours: usize, s: &Setup) {
    let Some(figure) = results.median(w, ours) else {
        return;
    };
    let same = |o: &Setup| o.version == s.version && o.websocket == s.websocket;
    let off = (0..setups.len())
        .find(|&i| {
            setups[i].kind == Kind::Pubzub
                && setups[i].durability == Some("off")
                && same(&setups[i])
        })
        .and_then(|i| results.median(w, i));
    let peers = (0..setups.len()).filter(|&i| {
        setups[i].kind != Kind::Pubzub
            && same(&setups[i])
            && (!w.against_mosquitto || setups[i].kind == Kind::Mosquitto)
    });
    let best = peers
        .filter_map(|i| Some((results.median(w, i)?, setups[i].kind)))
        .reduce(|a, b| {
            let better = if w.higher_is_better {
                b.0 > a.0
            } else {
                b.0 < a.0
            };
            if better { b } else { a }
        });
    let Some((theirs, kind)) = best else {
        return;
    };
    let ratio = if w.higher_is_better {
        figure / theirs
    } else {
        theirs / figure
    };
    let target = match w.target {
        Some(t) if ratio >= t => format!(" (target {t:.1}x: met)"),
        Some(t) => format!(" (target {t:.1}x: not met)"),
        None => String::new(),
    };
    let off = off.map_or(String::new(), |o| format!(" (off {})", human(o)));
    println!(
        "RATIO {}, {}: pubzub-server {}{off} {}, {} {} {}: {ratio:.2}x{target}",
        w.name,
        s.name().trim_start_matches("pubzub-server batched, "),
        human(figure),
        w.unit,
        kind.name(),
        human(theirs),
        w.unit,
    );
}
