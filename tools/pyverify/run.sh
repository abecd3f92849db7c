#!/usr/bin/env bash
# Runs the independent Python verifier of the format vectors, installing its one
# dependency (blake3, from PyPI) if it is missing.
set -euo pipefail
cd "$(dirname "$0")"
py="${PYTHON:-python3}"
if ! "$py" -c 'import blake3' 2>/dev/null; then
  "$py" -m pip install --quiet --disable-pip-version-check blake3 ||
    "$py" -m pip install --quiet --disable-pip-version-check --break-system-packages blake3
fi
exec "$py" verify_vectors.py
