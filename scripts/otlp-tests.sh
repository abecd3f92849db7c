#!/usr/bin/env bash
# The OpenTelemetry end-to-end tests: the real OpenTelemetry Python SDK and its
# OTLP/HTTP exporters (protobuf and JSON, with and without gzip) against the
# real `cairnd`, checked with the real `cairn`. Needs the release binaries
# (`cargo build --release --workspace --bins`) in $CARGO_TARGET_DIR/release.
#
# Installs the SDK, the exporters and pytest (tests/otlp/requirements.txt, from
# PyPI) into a venv at ${CARGO_TARGET_DIR:-target}/otlp-venv, reused by later runs.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
target="${CARGO_TARGET_DIR:-$root/target}"
case "$target" in /*) ;; *) target="$root/$target" ;; esac
bins="$target/release"
for bin in cairnd cairn; do
  if [ ! -x "$bins/$bin" ]; then
    echo "otlp-tests: $bins/$bin is missing; build first: cargo build --release --workspace --bins" >&2
    exit 2
  fi
done

py="${PYTHON:-python3}"
venv="$target/otlp-venv"
requirements="$root/tests/otlp/requirements.txt"
stamp="$venv/.requirements"
if [ ! -x "$venv/bin/python" ]; then
  if ! "$py" -m venv "$venv"; then
    # Debian ships venv's pip bootstrap apart, in python3-venv.
    rm -rf "$venv"
    echo "otlp-tests: installing python3-venv" >&2
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-venv >/dev/null
    "$py" -m venv "$venv"
  fi
fi
if ! cmp -s "$requirements" "$stamp"; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
  cp "$requirements" "$stamp"
fi

status=0
CAIRN_BIN_DIR="$bins" "$venv/bin/python" -m pytest -q -p no:cacheprovider "$root/tests/otlp" "$@" || status=$?
if [ "$status" -eq 5 ]; then
  echo "otlp-tests: pytest collected no tests" >&2
fi
exit "$status"
