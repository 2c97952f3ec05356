#!/usr/bin/env bash
# Fetches real photographs (Debian's plasma-workspace-wallpapers and lomiri-wallpapers-16.04 packages) into the
# cache, never into the repo, and runs `mediamill bench images` on them (dev profile: dependencies, where the pixel work is, are built at opt-level 2).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/infra/common.sh
bash scripts/install-system-deps.sh
PHOTOS="$MEDIAMILL_CACHE/bench-photos"
if [ -z "$(ls "$PHOTOS" 2>/dev/null)" ]; then
  work="$(mktemp -d)"
  (cd "$work" && apt-get download plasma-workspace-wallpapers lomiri-wallpapers-16.04 >/dev/null 2>&1)
  for d in "$work"/*.deb; do dpkg -x "$d" "$work/x"; done
  mkdir -p "$PHOTOS"
  # Distinct photos over 200 kB (the KDE packages ship one picture at several sizes; keep the largest name).
  find "$work/x" -iname '*.jpg' -size +200k | while read -r f; do
    cp "$f" "$PHOTOS/$(echo "$f" | sed 's#.*/wallpapers/##; s#/#_#g')"
  done
  rm -rf "$work"
fi
cargo run --locked --quiet -- bench images "$PHOTOS" "$@"
