#!/usr/bin/env bash
# Instructions per operation of the codec benchmark's workload, pubzub-core against its peers,
# counted by callgrind in one run. Repeatable where wall-clock timings on a shared machine are
# not; complements `cargo bench -p pubzub-core`.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100000}

cargo build -q --profile bench -p pubzub-core --example codec_workload
bin=target/release/examples/codec_workload

count() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$n" 2>&1 \
    | awk '/Collected :/ { print $4 }'
}

base=$(count none)
per_op() { echo $(( ($(count "$1") - base) / n )); }

for op in decode encode; do
  ours=$(per_op "$op")
  for peer in mqtt-proto mqtt-protocol-core; do
    theirs=$(per_op "$peer-$op")
    awk -v op="$op" -v peer="$peer" -v a="$ours" -v b="$theirs" 'BEGIN {
      printf "RATIO publish_%s instructions: pubzub-core %d, %s %d -> pubzub-core uses %.2fx fewer\n", op, a, peer, b, b / a }'
  done
done
