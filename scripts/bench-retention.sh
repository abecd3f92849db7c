#!/usr/bin/env bash
# GET /v1/entries/{seq} of windows that `cairnd --local-retention` dropped,
# cold (each read fetches the window's objects from the bucket) and warm (from
# the daemon's archive cache), against the same reads of a copy of the ledger
# that keeps every window local. BENCHMARKS.md, "Local retention".
#
#   scripts/bench-retention.sh file|s3 [ENTRIES] [WINDOWS]
#
# ENTRIES decisions (default 100000) are appended to a daemon archiving to a
# directory (file) or to SeaweedFS's S3 gateway on loopback (s3, started by
# scripts/seaweedfs.sh) with --local-retention 0, which drops every archived
# window but the last. The daemon is restarted (empty caches), then one seq in
# each of the first WINDOWS windows (default 300) is read twice: the first pass
# is cold, the second warm. The same reads, twice, of a daemon serving a
# restore of the bucket (every window local) are the baseline. One keep-alive
# connection, one request at a time; latencies as the client sees them.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
bin="$CARGO_TARGET_DIR/release"
kind="${1:-file}"
entries="${2:-100000}"
windows="${3:-300}"
work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ "$kind" = s3 ] && scripts/seaweedfs.sh stop
  rm -rf "$work"
}
trap cleanup EXIT

case "$kind" in
  file) url="file://$work/bucket" ;;
  s3)
    scripts/seaweedfs.sh start >"$work/env"
    # shellcheck disable=SC1091
    . "$work/env"
    url="s3://$CAIRN_TEST_S3_BUCKET/bench-$$"
    ;;
  *) echo "usage: $0 file|s3 [ENTRIES] [WINDOWS]" >&2; exit 2 ;;
esac

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start DATA PORT ARGS...: a daemon, waited for until it answers.
start() {
  local data="$1" port="$2"
  shift 2
  "$bin/cairnd" --init --data "$data" --listen "127.0.0.1:$port" "$@" 2>>"$work/cairnd.log" &
  pids+=($!)
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && return 0
    sleep 0.1
  done
  echo "cairnd did not start; see its log:" >&2
  tail -20 "$work/cairnd.log" >&2
  exit 1
}

metric() { curl -sf "http://127.0.0.1:$1/metrics" | awk -v m="$2" '$1 == m { print $2 }'; }

retained=(--archive "$url" --archive-interval-ms 200 --checkpoint-interval-ms 200
  --local-retention 0 --archive-cache-bytes 268435456)
port="$(free_port)"
start "$work/ledger" "$port" "${retained[@]}"
"$bin/cairn-load" --url "http://127.0.0.1:$port" --count "$entries" --no-check >/dev/null
want=$(( (entries - 1) / 256 * 256 ))
until [ "$(metric "$port" cairn_archive_local_from_seq)" -ge "$want" ] 2>/dev/null; do sleep 0.5; done
kill -TERM "${pids[-1]}"; wait "${pids[-1]}" || true
"$bin/cairn" restore --from "$url" --data "$work/full" --key-file "$work/ledger/verifier.key" \
  --signing-key "$work/ledger/signing.key" >/dev/null

port="$(free_port)"
start "$work/ledger" "$port" "${retained[@]}"
full_port="$(free_port)"
start "$work/full" "$full_port"

python3 - "$port" "$full_port" "$windows" <<'EOF'
import http.client, statistics, sys, time
port, full_port, windows = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
seqs = [w * 256 + 17 for w in range(windows)]

def run(p):
    c = http.client.HTTPConnection("127.0.0.1", p)
    took = []
    for s in seqs:
        t = time.perf_counter()
        c.request("GET", f"/v1/entries/{s}")
        r = c.getresponse()
        r.read()
        assert r.status == 200, (s, r.status)
        took.append((time.perf_counter() - t) * 1000)
    return took

def show(label, took):
    took = sorted(took)
    p = lambda q: took[min(len(took) - 1, int(q * len(took)))]
    print(f"{label:34} n={len(took):4}  mean {statistics.mean(took):7.2f} ms  "
          f"p50 {p(0.5):7.2f}  p99 {p(0.99):7.2f}  max {took[-1]:7.2f}")

show("dropped, cold (fetch)", run(port))
show("dropped, warm (archive cache)", run(port))
show("local, first pass", run(full_port))
show("local, second pass", run(full_port))
EOF
echo "fetched $(metric "$port" cairn_archive_fetches_total) objects," \
  "$(metric "$port" cairn_archive_fetched_bytes_total) bytes;" \
  "cache holds $(metric "$port" cairn_archive_cache_bytes) bytes"
