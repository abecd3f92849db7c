#!/usr/bin/env bash
# Regenerates the checked-in reference ledgers in tests/data/ with today's code.
# Only for a new format version: the point of the existing ones is that they were
# written by older code and must keep verifying.
#   reference-v1          260 entries: 250 decisions, a checkpoint at 250 (kept as
#                         `checkpoint`), a redaction of seq 3, 9 more decisions,
#                         a stored checkpoint at 260, and root-260.hex.
#   reference-v1-damaged  the same with entry 17 altered below the API.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --release --workspace --bins --quiet
bin="$CARGO_TARGET_DIR/release"
out=tests/data
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

ref="$work/reference-v1"
"$bin/cairn" init --data "$ref" --origin reference.cairn.example/v1 >/dev/null
"$bin/cairn-synth" --seed 5 --count 250 --out "$work/a.ndjson"
"$bin/cairn-synth" --seed 6 --count 9 --out "$work/b.ndjson"
"$bin/cairn" append --data "$ref" --quiet "$work/a.ndjson"
"$bin/cairn" checkpoint --data "$ref" --out "$work/checkpoint" >/dev/null
"$bin/cairn" redact --data "$ref" --seq 3 --reason "reference erasure" --actor reference >/dev/null
"$bin/cairn" append --data "$ref" --quiet "$work/b.ndjson"
"$bin/cairn" checkpoint --data "$ref" >/dev/null
mv "$work/checkpoint" "$ref/checkpoint"
"$bin/cairn" verify --data "$ref" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["root"])' > "$ref/root-260.hex"

dmg="$work/reference-v1-damaged"
cp -r "$ref" "$dmg"
"$bin/cairn-tamper" --data "$dmg" entry --seq 17

for d in "$ref" "$dmg"; do
  rm -f "$d/signing.key" "$d/ledger/LOCK" "$d"/ledger/LOG*
done
rm -rf "$out/reference-v1" "$out/reference-v1-damaged"
mkdir -p "$out"
cp -r "$ref" "$dmg" "$out/"
echo "wrote $out/reference-v1 and $out/reference-v1-damaged"
