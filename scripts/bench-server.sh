#!/usr/bin/env bash
# Server load test: pubzub-server and Mosquitto (Debian's, started by the load generator on free
# loopback ports) under the same workloads, alternating rounds. Prints RATIO lines.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v mosquitto >/dev/null || { echo "needs mosquitto (apt-get install mosquitto)" >&2; exit 1; }
ulimit -n 10000 2>/dev/null || true # 2,000 idle clients and the brokers' side of them
cargo build --profile server -p pubzub-server --bin pubzub-server --example loadgen
target/server/examples/loadgen target/server/pubzub-server
