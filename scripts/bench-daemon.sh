#!/usr/bin/env bash
# One daemon ingest run with its CPU by thread (BENCHMARKS.md, "Daemon"):
# a fresh `cairnd --init` on a new ledger, warmed with 50 k decisions, then
# `cairn-load --count COUNT --batch BATCH --connections CONNS` (more
# cairn-load arguments may follow). Prints the load tool's figures and, for
# each of the daemon's threads, its user+system CPU over the timed run divided
# by the decisions acknowledged.
#
#   scripts/bench-daemon.sh BATCH CONNS COUNT [cairn-load args...]
#
# CAIRND and CAIRN_LOAD pick the binaries (default: the release build), so
# that two builds can be run in alternation. Needs the release binaries.
set -euo pipefail
if [ $# -lt 3 ]; then
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
T=${CARGO_TARGET_DIR:-target}
CAIRND=${CAIRND:-$T/release/cairnd}
CAIRN_LOAD=${CAIRN_LOAD:-$T/release/cairn-load}
PORT=${PORT:-7180}
batch=$1 conns=$2 count=$3
shift 3
dir=$(mktemp -d "${TMPDIR:-/var/tmp}/cairn-bench-daemon.XXXX")
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
"$CAIRND" --init --data "$dir/ledger" --listen "127.0.0.1:$PORT" >/dev/null 2>"$dir/log" &
pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
"$CAIRN_LOAD" --url "http://127.0.0.1:$PORT" --count 50000 --batch 1000 --connections 4 \
  --seed 9 --no-check >/dev/null 2>&1
# CPU ticks of each thread, summed by thread name.
ticks() {
  for t in /proc/"$pid"/task/*; do
    echo "$(tr ' ' _ <"$t/comm") $(awk '{print $14 + $15}' "$t/stat")"
  done | awk '{a[$1] += $2} END {for (k in a) print k, a[k]}' | sort
}
ticks >"$dir/before"
"$CAIRN_LOAD" --url "http://127.0.0.1:$PORT" --count "$count" --batch "$batch" \
  --connections "$conns" --seed 1 --no-check --json "$@" >"$dir/report.json" 2>/dev/null || true
ticks >"$dir/after"
python3 - "$dir/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
lat = r.get("latency_ms", {})
print(f"{r['acked_decisions']} decisions, {r['decisions_per_s']:.0f}/s, "
      f"p50 {lat.get('p50')} ms, p99 {lat.get('p99')} ms")
PY
acked=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['acked_decisions'])" "$dir/report.json")
join "$dir/before" "$dir/after" | awk -v n="$acked" -v hz="$(getconf CLK_TCK)" \
  '{d = ($3 - $2) / hz * 1e6 / n; if (d > 0.05) printf "  %-22s %6.2f us of CPU per decision\n", $1, d}'
