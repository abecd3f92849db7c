#!/usr/bin/env bash
# The Python client's checks: ruff (lint and format), mypy, and pytest against
# the real `cairnd` and `cairn` binaries of the release build; then those of the
# independent archive verifier (tools/pyverify/test.sh, same venv).
#
# It makes a venv under the cargo target dir (outside the tracked files), installs
# ./clients/python with its test and example extras from PyPI, and exits non-zero
# on any failure, including a pytest run that collected no test.
# Binaries: CAIRND_BIN / CAIRN_BIN, else $CARGO_TARGET_DIR/release/.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
# shellcheck source=scripts/lib/py-venv.sh
. scripts/lib/py-venv.sh
need_bins "python-tests" cairnd cairn
make_venv
echo "== installing clients/python with its test and example extras"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "./clients/python[test,example]"

cd clients/python
echo "== ruff"
"$venv/bin/ruff" check .
"$venv/bin/ruff" format --check .
echo "== mypy"
"$venv/bin/mypy"
echo "== pytest"
# Exit 5 (no test collected) is a failure like any other non-zero exit.
"$venv/bin/python" -m pytest -q -p no:cacheprovider tests

cd ../..
echo "== the independent archive verifier (tools/pyverify)"
tools/pyverify/test.sh
