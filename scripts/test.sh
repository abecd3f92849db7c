#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit, conformance, property,
# end-to-end (real `cairn` and `cairnd` on real RocksDB, HTML pages in headless
# Chromium, archives in SeaweedFS's S3 gateway), format vectors checked by an
# independent Python verifier, and a build of the fuzz targets.
#
# Everything runs in the release profile, so RocksDB is built once.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/test-setup.sh   # the libclang check itself
scripts/browser.sh   # headless Chromium for the HTML report tests

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== building binaries (release)"
cargo build --release --workspace --bins

echo "== cargo clippy"
cargo clippy --release --workspace --all-targets -- -D warnings

echo "== cargo test (release)"
cargo test --release --workspace

echo "== archive against SeaweedFS's S3 gateway"
scripts/archive-tests.sh

echo "== OpenTelemetry end to end (Python SDK)"
scripts/otlp-tests.sh

echo "== Python client (pytest against the real cairnd)"
scripts/python-tests.sh

echo "== independent format check (Python)"
tools/pyverify/run.sh

echo "== fuzz targets build"
CARGO_TARGET_DIR="$CARGO_TARGET_DIR/fuzz" cargo build --release --manifest-path fuzz/Cargo.toml --bins

echo "== all tests passed"
