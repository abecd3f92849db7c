#!/usr/bin/env bash
# Removes superseded executables from a cached target directory: every rebuild
# of a test or binary links a new ~450 MB file (RocksDB is linked statically)
# under a new name, and cargo never deletes the old ones. For each name only
# the newest is kept; anything removed by mistake is simply relinked.
set -euo pipefail
dir="${1:?usage: prune-target.sh TARGET_DIR}/release/deps"
[ -d "$dir" ] || exit 0
cd "$dir"
# Executables carry no extension: NAME-HASH. Newest first; drop the later ones.
ls -t | { grep -v '\.' || true; } | awk '{ n = $0; sub(/-[0-9a-f]+$/, "", n); if (seen[n]++) print }' |
    xargs -r rm -f --
