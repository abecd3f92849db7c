#!/usr/bin/env bash
# The archive verifier's checks: ruff (lint and format), mypy, and pytest on
# archives made by the real `cairn` binaries of the release build.
#
#   tools/pyverify/test.sh [PYTEST ARGS]     e.g. -k http
#
# It uses the project's venv under the cargo target dir (outside the tracked
# files; scripts/python-tests.sh makes the same one), installs the pinned
# requirements-test.txt from PyPI, and exits non-zero on any failure, including a
# pytest run that collected no test.
# Binaries: CAIRN_BIN / CAIRN_SYNTH_BIN, else $CARGO_TARGET_DIR/release/.
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/../../target}"
venv="$CARGO_TARGET_DIR/py-venv"
py="${PYTHON:-python3}"

for bin in cairn cairn-synth; do
  var="$(echo "$bin" | tr a-z- A-Z_)_BIN"
  path="${!var:-$CARGO_TARGET_DIR/release/$bin}"
  if [ ! -x "$path" ]; then
    echo "pyverify tests: no $bin at $path; run \`cargo build --release --workspace --bins\` first" >&2
    exit 2
  fi
  export "$var=$path"
done

if [ ! -x "$venv/bin/python" ]; then
  echo "== creating $venv"
  if ! "$py" -m venv "$venv" 2>/dev/null; then
    # Debian splits venv (and its pip) into python3-venv.
    apt-get update -qq && apt-get install -y -qq python3-venv
    "$py" -m venv "$venv"
  fi
fi
echo "== installing tools/pyverify/requirements-test.txt"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements-test.txt

echo "== ruff (tools/pyverify)"
"$venv/bin/ruff" check .
"$venv/bin/ruff" format --check .
echo "== mypy (tools/pyverify)"
"$venv/bin/mypy"
echo "== pytest (tools/pyverify)"
# Exit 5 (no test collected) is a failure like any other non-zero exit.
"$venv/bin/python" -m pytest -q -rs -p no:cacheprovider tests "$@"
