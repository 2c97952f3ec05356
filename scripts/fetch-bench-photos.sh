#!/usr/bin/env bash
# Fetches real photographs (Debian's plasma-workspace-wallpapers and lomiri-wallpapers-16.04 packages) into the
# cache, never into the repo, once; prints their folder. Used by the image and isolation benchmarks.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/infra/common.sh
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
echo "$PHOTOS"
