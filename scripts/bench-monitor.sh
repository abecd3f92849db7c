#!/usr/bin/env bash
# The live monitor's cost on ingest: cairn-load against a fresh cairnd with the
# monitor on and off, alternating, three pairs per workload (BENCHMARKS.md).
# Needs the release binaries (cargo build --release --workspace --bins).
set -euo pipefail
T=${CARGO_TARGET_DIR:-target}
B=$T/release
W=$T/bench-monitor; mkdir -p "$W"
run() { # mode args...
  local mode=$1; shift
  rm -rf "$W/d"; 
  $B/cairnd --init --data "$W/d" --listen 127.0.0.1:7189 --monitor "$mode" 2>/dev/null &
  local pid=$!
  for i in $(seq 100); do curl -sf http://127.0.0.1:7189/healthz >/dev/null && break; sleep 0.1; done
  $B/cairn-load --url http://127.0.0.1:7189 --no-check --json "$@" > "$W/out.json" 2>/dev/null || true
  kill -TERM $pid; wait $pid || true
  python3 -c "import json,sys; d=json.load(open('$W/out.json')); print('$mode', ' '.join(sys.argv[1:]), round(d.get('decisions_per_s', d.get('throughput_per_s', 0))), 'p99', d.get('latency_ms',{}).get('p99', d.get('p99_ms')))" "$@" || cat "$W/out.json"
}
for rep in 1 2 3; do
  for mode in true false; do run $mode --count 200000 --batch 1000 --connections 4 --seed 1; done
done
for rep in 1 2 3; do
  for mode in false true; do run $mode --count 60000 --batch 1 --connections 64 --seed 1; done
done
