#!/usr/bin/env bash
# Archiving's figures (BENCHMARKS.md): ingest with and without `cairnd
# --archive` side by side (alternating pairs, same workload), the archive's lag
# under that ingest and the time it takes to catch up once the load stops, then
# a 1 M-decision ledger archived while it is written, `cairn verify --source`
# against local `cairn verify`, and `cairn restore` of the 1 M decisions.
#
#   scripts/bench-archive.sh            file:// backend
#   S3=1 scripts/bench-archive.sh       also SeaweedFS's S3 gateway (scripts/seaweedfs.sh)
#
# Needs the release binaries (cargo build --release --workspace --bins).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
B=$CARGO_TARGET_DIR/release
W=$CARGO_TARGET_DIR/bench-archive
rm -rf "$W"; mkdir -p "$W"
PORT=${PORT:-7191}
URL=http://127.0.0.1:$PORT
PAIRS=${PAIRS:-3}
COUNT=${COUNT:-200000}
BIG=${BIG:-1000000}
LOAD=(--batch 100 --connections 4 --seed 1)

metric() { curl -sf "$URL/metrics" | awk -v n="$1" '$1 == n { print $2 }'; }

start() { # dir, cairnd args...
  local d=$1; shift
  "$B/cairnd" --init --data "$d" --listen "127.0.0.1:$PORT" "$@" 2>"$d.log" &
  PID=$!
  for _ in $(seq 300); do curl -sf "$URL/healthz" >/dev/null && return; sleep 0.1; done
  echo "cairnd did not start: $(tail -5 "$d.log")" >&2; exit 1
}

stop() { kill -TERM "$PID"; wait "$PID" || true; }

# Poll the archive lag every 0.5 s into $1 until the file $1.stop exists.
sample_lag() {
  while [ ! -f "$1.stop" ]; do
    echo "$(metric cairn_archive_lag_seconds) $(metric cairn_archive_lag_entries)" >>"$1"
    sleep 0.5
  done
}

max_col() { awk -v c="$2" 'BEGIN { m = 0 } $c != "" && $c + 0 > m { m = $c + 0 } END { print m }' "$1"; }

# One ingest run; prints "<label> <decisions/s> [max lag s, max lag entries, catch-up s]".
ingest() { # label, archive URL or "", count
  local label=$1 archive=$2 count=$3 d="$W/ledger-$RANDOM"
  if [ -n "$archive" ]; then
    start "$d" --archive "$archive"
  else
    start "$d"
  fi
  local lag="$d.lag"; : >"$lag"
  sample_lag "$lag" & local sampler=$!
  "$B/cairn-load" --url "$URL" --no-check --json --count "$count" "${LOAD[@]}" >"$d.load.json" 2>/dev/null
  local rate; rate=$(python3 -c "import json; print(round(json.load(open('$d.load.json'))['decisions_per_s']))")
  local extra=""
  if [ -n "$archive" ]; then
    local t0=$SECONDS size
    size=$(metric cairn_ledger_size)
    until [ "$(metric cairn_archive_archived_seq)" = "$size" ]; do sleep 0.1; done
    extra=" max_lag_s=$(max_col "$lag" 1) max_lag_entries=$(max_col "$lag" 2) catch_up_s<=$((SECONDS - t0 + 1))"
  fi
  touch "$lag.stop"; wait "$sampler"
  stop
  echo "$label decisions_per_s=$rate$extra"
  LAST_DIR=$d
}

pairs() { # label, archive URL maker
  for p in $(seq "$PAIRS"); do
    ingest "without-archive" "" "$COUNT"
    ingest "with-archive-$1" "$($2 "$p")" "$COUNT"
  done
}

file_url() { echo "file://$W/bucket-$1"; }
s3_url() { echo "s3://$CAIRN_TEST_S3_BUCKET/bench-$1-$RANDOM"; }

echo "== ingest, $COUNT decisions, ${LOAD[*]}, with and without --archive (file)"
pairs file file_url

if [ "${S3:-0}" = 1 ]; then
  env_file=$(mktemp)
  trap 'scripts/seaweedfs.sh stop; rm -f "$env_file"' EXIT
  scripts/seaweedfs.sh start >"$env_file"
  # shellcheck disable=SC1090
  . "$env_file"
  echo "== ingest, $COUNT decisions, with and without --archive (SeaweedFS S3)"
  pairs s3 s3_url
fi

echo "== $BIG decisions archived while written (file), then verify and restore"
big_url="file://$W/bucket-big"
ingest "big-with-archive-file" "$big_url" "$BIG"
data=$LAST_DIR
t0=$(date +%s.%N)
"$B/cairn" verify --data "$data" --json >"$W/verify-local.json"
t1=$(date +%s.%N)
"$B/cairn" verify --source "$big_url" --key-file "$data/verifier.key" --json >"$W/verify-source.json"
t2=$(date +%s.%N)
"$B/cairn" restore --from "$big_url" --data "$W/restored" --key-file "$data/verifier.key" --json >"$W/restore.json"
t3=$(date +%s.%N)
python3 - "$t0" "$t1" "$t2" "$t3" "$W" <<'PY'
import json, sys
t0, t1, t2, t3 = map(float, sys.argv[1:5]); w = sys.argv[5]
local = json.load(open(f"{w}/verify-local.json")); source = json.load(open(f"{w}/verify-source.json"))
restore = json.load(open(f"{w}/restore.json"))
n = source["entries_checked"]
print(f"verify local:  {local['status']} {local['entries_checked']} entries in {t1 - t0:.1f} s ({local['entries_checked'] / (t1 - t0):.0f}/s)")
print(f"verify source: {source['status']} {n} entries in {t2 - t1:.1f} s ({n / (t2 - t1):.0f}/s), {(t2 - t1) / (t1 - t0):.2f}x local")
print(f"restore:       {restore['status']} {restore['entries']} entries, {restore['objects']} objects, {restore['bytes']} bytes in {t3 - t2:.1f} s ({restore['entries'] / (t3 - t2):.0f}/s)")
PY
du -sh "$W/bucket-big" "$data/ledger" | sed 's/^/size: /'
