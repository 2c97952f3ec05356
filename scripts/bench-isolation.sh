#!/usr/bin/env bash
# Runs `mediamill bench isolation` on real photographs fetched into the cache and the fixture clip: the cost of
# decoding in sandbox children against the same work in process.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system-deps.sh
PHOTOS="$(bash scripts/fetch-bench-photos.sh)"
cargo run --locked --quiet -- bench isolation "$PHOTOS" "$@"
