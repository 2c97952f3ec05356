#!/usr/bin/env bash
# Runs `mediamill bench images` on real photographs fetched into the cache (dev profile: dependencies, where
# the pixel work is, are built at opt-level 2).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system-deps.sh
PHOTOS="$(bash scripts/fetch-bench-photos.sh)"
cargo run --locked --quiet -- bench images "$PHOTOS" "$@"
