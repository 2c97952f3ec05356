#!/usr/bin/env bash
# Runs `mediamill bench images` on real photographs fetched into the cache, against libvips loaded once through
# pyvips (benchtools venv). A release build, as mediamill ships: in a dev build the resizer's generic inner loops
# are compiled into the workers crate at its opt-level 1 with overflow checks, which doubled the resize's cost.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system-deps.sh
bash scripts/infra/pytools.sh install-bench
export MEDIAMILL_BENCH_PYTHON="${MEDIAMILL_CACHE:-/var/tmp/mediamill-cache}/benchtools/bin/python"
# Two sets of real photographs: the wallpapers, and photos of several cameras and sizes.
for set in wallpapers cameras; do
  PHOTOS="$(bash scripts/fetch-bench-photos.sh "$set")"
  cargo run --release --locked --quiet -- bench images "$PHOTOS" "$@"
done
