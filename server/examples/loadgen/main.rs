//! Load generator: the same workloads against pubzub-server and its peers (Mosquitto, rumqttd,
//! nats-server), each started here as its own process on free loopback ports and measured in
//! the same run.
//!
//! Run it with `scripts/bench-server.sh`, which builds the server with the `server` profile and
//! installs the peers. The clients are raw sockets speaking MQTT through pubzub-core's codec,
//! the same bytes for every broker, so the brokers are what differs. `LOADGEN_ONLY=peers`,
//! `stalled` or `durable` runs one part:
//!
//! - peers ([`peers`]): throughput, latency, connections per second and memory per idle
//!   client against every peer, MQTT 3.1.1 and 5, TCP and WebSocket;
//! - stalled ([`stalled`]): memory under a subscriber that stopped reading and for an offline
//!   session's queue, against Mosquitto;
//! - durable ([`durable`]): what the store costs, against Mosquitto with persistence.
//!
//! Usage: `loadgen <pubzub-server> [<rumqttd>]`; nats-server is taken from the PATH.
//! `LOADGEN_ROUNDS` changes the number of rounds (3). For a quick look at one change in the
//! peers part, `LOADGEN_BROKERS=pubzub-server,rumqttd` keeps those brokers and
//! `LOADGEN_WORKLOADS=memory,fan-in` the workloads whose names contain one of those words.

mod broker;
mod client;
mod durable;
mod peers;
mod stalled;
mod workloads;

use std::path::PathBuf;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Rounds of the peer comparison and the memory workloads.
const ROUNDS: usize = 3;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let programs = broker::Programs {
        pubzub: args
            .next()
            .map(PathBuf::from)
            .ok_or("usage: loadgen <path to pubzub-server> [<path to rumqttd>]")?,
        rumqttd: args.next().map(PathBuf::from).filter(|p| p.is_file()),
        nats: broker::on_path("nats-server"),
    };
    let only = std::env::var("LOADGEN_ONLY").ok();
    // LOADGEN_ROUNDS=1 for a quick look; the figures to compare come from the default.
    let rounds = std::env::var("LOADGEN_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(ROUNDS);
    let wants = |name: &str| only.as_deref().is_none_or(|o| o == name);
    if wants("peers") {
        peers::run(&programs, rounds).await?;
    }
    if wants("stalled") {
        stalled::run(&programs, rounds).await?;
    }
    if wants("durable") {
        durable::run(&programs, durable::ROUNDS).await?;
    }
    Ok(())
}
