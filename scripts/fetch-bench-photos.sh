#!/usr/bin/env bash
# Fetches real photographs from Debian packages into the cache, never into the repo, once; prints their folder.
# Used by the image and isolation benchmarks.
#   fetch-bench-photos.sh            the wallpapers of plasma-workspace-wallpapers and lomiri-wallpapers-16.04
#                                    (37 JPEGs, 1.4 to 15 MP)
#   fetch-bench-photos.sh cameras    the photographs of mate-backgrounds and ukui-wallpapers (17 JPEGs, 1.8 to
#                                    18 MP, from Sony, Canon and Konica Minolta cameras among others; 4:4:4,
#                                    4:2:2 and 4:2:0, baseline and progressive)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/infra/common.sh
case "${1:-wallpapers}" in
  wallpapers) PHOTOS="$MEDIAMILL_CACHE/bench-photos"; PACKAGES="plasma-workspace-wallpapers lomiri-wallpapers-16.04" ;;
  cameras) PHOTOS="$MEDIAMILL_CACHE/bench-photos-cameras"; PACKAGES="mate-backgrounds ukui-wallpapers" ;;
  *) echo "fetch-bench-photos.sh [wallpapers|cameras]" >&2; exit 2 ;;
esac
if [ -z "$(ls "$PHOTOS" 2>/dev/null)" ]; then
  work="$(mktemp -d)"
  # shellcheck disable=SC2086
  (cd "$work" && apt-get download $PACKAGES >/dev/null 2>&1)
  for d in "$work"/*.deb; do dpkg -x "$d" "$work/x"; done
  mkdir -p "$PHOTOS"
  # Distinct photos over 200 kB (the KDE packages ship one picture at several sizes; keep the largest name).
  find "$work/x" -iname '*.jpg' -size +200k | while read -r f; do
    cp "$f" "$PHOTOS/$(echo "$f" | sed 's#.*/\(wallpapers\|backgrounds\)/##; s#/#_#g')"
  done
  rm -rf "$work"
fi
echo "$PHOTOS"
