#!/usr/bin/env bash
# The archive tests against a real S3 server: starts SeaweedFS's S3 gateway on
# loopback (scripts/seaweedfs.sh), runs the archive tests that need it (the
# archive crate's, its local retention ones, and the daemon's end-to-end ones in
# tests/e2e/archive.rs and tests/e2e/retention.rs; they are #[ignore]d in a
# plain `cargo test`, which runs the same tests against the local-filesystem
# backend), then the independent Python verifier's test that
# reads an archive from the bucket with anonymous HTTP GETs
# (tools/pyverify/test.sh -k http), and stops the server. A server that cannot
# start fails this script: it never passes silently.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
env_file="$(mktemp)"
trap 'scripts/seaweedfs.sh stop; rm -f "$env_file"' EXIT
scripts/seaweedfs.sh start >"$env_file"
# shellcheck disable=SC1090
. "$env_file"
cargo test --release --workspace --test archive --test retention -- --include-ignored "$@"
# The bucket is there: a skipped HTTP test would be a silent pass, so it fails.
CAIRN_PYVERIFY_REQUIRE_S3=1 tools/pyverify/test.sh -k http
# cairnd --archive against the same server: the real daemon and CLI.
cargo build --release --workspace --bins
cargo test --release --workspace --test e2e -- archive:: retention:: --include-ignored "$@"
