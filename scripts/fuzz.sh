#!/usr/bin/env bash
# Runs every cargo-fuzz target (fuzz/fuzz_targets/) for a bounded time, seeded with the fixture corpus.
# Anything that crashes, runs out of memory or hangs is copied into fuzz/regressions/<target>/, which
# tests/fuzz_regressions.rs replays in the normal test run: commit those files with the fix.
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET]   (default 60). Needs the nightly toolchain (installed if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/infra/common.sh
SECS="${1:-60}"
bash scripts/install-system-deps.sh
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export CARGO_TARGET_DIR="$MEDIAMILL_CACHE/fuzz-target"
cd fuzz
for t in sniff multipart zip image_header; do
  mkdir -p "corpus/$t" "regressions/$t"
  case $t in
    sniff|image_header) cp ../fixtures/media/*.* ../fixtures/media/hostile/* "corpus/$t/" 2>/dev/null || true ;;
  esac
  echo "== $t for ${SECS}s" >&2
  cargo +nightly fuzz run "$t" "corpus/$t" -- -max_total_time="$SECS" -rss_limit_mb=2048 -timeout=20 || true
  for f in artifacts/"$t"/crash-* artifacts/"$t"/oom-* artifacts/"$t"/timeout-*; do
    if [ -f "$f" ]; then
      cp "$f" "regressions/$t/" && echo "regression kept: fuzz/regressions/$t/$(basename "$f")" >&2
    fi
  done
done
