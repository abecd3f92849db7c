#!/usr/bin/env bash
# Cairn end to end on the embedded default: create a ledger, append synthetic
# model decisions, sign a checkpoint, prove an entry's inclusion, tamper with a
# copy of the ledger and watch `cairn verify` catch it.
#
# The first run builds RocksDB from source (about 17 minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
echo "== building (release)"
cargo build --release --workspace --bins --quiet
bin="$CARGO_TARGET_DIR/release"
count="${CAIRN_DEMO_COUNT:-20000}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
data="$work/ledger"

echo "== cairn init"
"$bin/cairn" init --data "$data" --origin demo.example/decisions

echo "== $count synthetic decisions (fraud scores, chat completions, pricing)"
"$bin/cairn-synth" --seed 7 --count "$count" --out "$work/decisions.ndjson"
head -c 300 "$work/decisions.ndjson"; echo " ..."

echo "== cairn append (batches of 1024, one fsync each)"
# --quiet: no receipt per line, one summary with the time of each phase.
"$bin/cairn" append --data "$data" --quiet "$work/decisions.ndjson"

echo "== cairn checkpoint (signed note, kept by the auditor)"
"$bin/cairn" checkpoint --data "$data" --out "$work/auditor.checkpoint"

echo "== cairn prove inclusion --seq 42"
"$bin/cairn" prove inclusion --data "$data" --seq 42

echo "== cairn get --seq 42"
"$bin/cairn" get --data "$data" --seq 42 >"$work/entry-42.json"
head -n 30 "$work/entry-42.json"

echo "== cairn verify --checkpoint auditor.checkpoint"
"$bin/cairn" verify --data "$data" --checkpoint "$work/auditor.checkpoint"

echo "== tampering with a copy: rewriting a payload below the API"
cp -r "$data" "$work/tampered"
"$bin/cairn-tamper" --data "$work/tampered" payload --seq 42
set +e
"$bin/cairn" verify --data "$work/tampered" --checkpoint "$work/auditor.checkpoint"
code=$?
set -e
echo "cairn verify exited $code (0 intact, 1 damaged, 2 could not check)"
[ "$code" -eq 1 ] || { echo "demo: expected the tampering to be caught" >&2; exit 1; }
echo "== demo done"
