#!/usr/bin/env bash
# The archive tests against a real S3 server: starts SeaweedFS's S3 gateway on
# loopback (scripts/seaweedfs.sh), runs the archive tests that need it (the
# crate's and the daemon's end-to-end ones in tests/e2e/archive.rs; they
# are #[ignore]d in a plain `cargo test`, which runs the same tests against the
# local-filesystem backend), and stops the server. A server that cannot start
# fails this script: it never passes silently.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
env_file="$(mktemp)"
trap 'scripts/seaweedfs.sh stop; rm -f "$env_file"' EXIT
scripts/seaweedfs.sh start >"$env_file"
# shellcheck disable=SC1090
. "$env_file"
cargo test --release -p cairn-archive --test archive -- --include-ignored "$@"
# cairnd --archive against the same server: the real daemon and CLI.
cargo build --release --workspace --bins
cargo test --release -p cairn-e2e --test e2e archive:: -- --include-ignored "$@"
