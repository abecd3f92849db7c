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
# shellcheck source=scripts/lib/py-venv.sh
. ../../scripts/lib/py-venv.sh
need_bins "pyverify tests" cairn cairn-synth
make_venv
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
