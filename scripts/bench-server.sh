#!/usr/bin/env bash
# Server load test: pubzub-server and its peers under the same workloads in the same run,
# each started by the load generator on free loopback ports. Prints tables and RATIO lines.
# Peers: Mosquitto and nats-server from Debian, rumqttd built once by `cargo install` into
# target/peers. LOADGEN_ONLY=peers|stalled|durable runs one part; LOADGEN_ROUNDS=1 a quick one;
# LOADGEN_BROKERS and LOADGEN_WORKLOADS narrow the peers part (see the load generator's main.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
command -v mosquitto >/dev/null || missing+=(mosquitto)
command -v nats-server >/dev/null || missing+=(nats-server)
if ((${#missing[@]})); then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
rumqttd=target/peers/bin/rumqttd
[ -x "$rumqttd" ] || cargo install rumqttd --root target/peers
# 10,000 idle clients: the load generator and each broker hold one socket apiece per client.
ulimit -n 20000 2>/dev/null || ulimit -n 10000 2>/dev/null || true
cargo build --profile server -p pubzub-server --bin pubzub-server --example loadgen
target/server/examples/loadgen target/server/pubzub-server "$rumqttd"
