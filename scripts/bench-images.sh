#!/usr/bin/env bash
# Runs `mediamill bench images` on real photographs fetched into the cache (dev profile: dependencies, where
# the pixel work is, are built at opt-level 2), against libvips loaded once through pyvips (benchtools venv).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system-deps.sh
bash scripts/infra/pytools.sh install-bench
export MEDIAMILL_BENCH_PYTHON="${MEDIAMILL_CACHE:-/var/tmp/mediamill-cache}/benchtools/bin/python"
# Two sets of real photographs: the wallpapers, and photos of several cameras and sizes.
for set in wallpapers cameras; do
  PHOTOS="$(bash scripts/fetch-bench-photos.sh "$set")"
  cargo run --locked --quiet -- bench images "$PHOTOS" "$@"
done
