#!/usr/bin/env bash
# Fetches real footage (the sample videos of Debian's opencv-doc package) into the cache, never into the repo,
# makes 1080p inputs from it and from a generated clip, and runs `mediamill bench video` on each.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/infra/common.sh
bash scripts/install-system-deps.sh
CLIPS="$MEDIAMILL_CACHE/bench-video"
mkdir -p "$CLIPS"
if [ ! -f "$CLIPS/Megamind.avi" ]; then
  work="$(mktemp -d)"
  (cd "$work" && apt-get download opencv-doc >/dev/null 2>&1)
  dpkg-deb --fsys-tarfile "$work"/opencv-doc_*.deb | tar -x -C "$work" --wildcards './usr/share/doc/opencv-doc/examples/data/*.avi'
  cp "$work"/usr/share/doc/opencv-doc/examples/data/{Megamind.avi,vtest.avi} "$CLIPS/"
  rm -rf "$work"
fi
ff() { ffmpeg -loglevel quiet -y "$@"; }
# The real footage at 1080p (upscaled with Lanczos), and a generated 1080p clip with film-like grain.
[ -f "$CLIPS/megamind-1080p.mp4" ] || ff -i "$CLIPS/Megamind.avi" -vf scale=1920:1080:flags=lanczos \
  -c:v libx264 -preset fast -crf 18 -c:a aac "$CLIPS/megamind-1080p.mp4"
[ -f "$CLIPS/generated-1080p.mp4" ] || ff -f lavfi -i testsrc2=size=1920x1080:rate=30 -f lavfi -i sine=frequency=440 \
  -t 10 -vf noise=alls=6:allf=t -c:v libx264 -preset fast -crf 20 -pix_fmt yuv420p -c:a aac -shortest \
  "$CLIPS/generated-1080p.mp4"
# A 720p source, where the ladder has two steps (720p and 480p).
[ -f "$CLIPS/megamind-720p.mp4" ] || ff -i "$CLIPS/Megamind.avi" -vf scale=1280:720:flags=lanczos \
  -c:v libx264 -preset fast -crf 18 -c:a aac "$CLIPS/megamind-720p.mp4"
# What ships: a release build.
cargo build --release --locked --quiet
for f in Megamind.avi vtest.avi megamind-1080p.mp4 generated-1080p.mp4; do
  "$(mediamill_bin release)" bench video "$CLIPS/$f" "$@"
  echo
done
"$(mediamill_bin release)" bench video "$CLIPS/megamind-720p.mp4" --ladder 720,480 "$@"
