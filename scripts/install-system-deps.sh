#!/usr/bin/env bash
# Installs the Debian packages that building and testing mediamill need.
# Idempotent: packages already present are skipped without touching apt.
set -euo pipefail

PKGS=(
  # build: ffmpeg-next binds FFmpeg 5.1 through bindgen (libclang) and pkg-config
  pkg-config clang libclang-dev
  libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libswresample-dev
  libavfilter-dev libavdevice-dev
  # build: HEIC/HEIF and AVIF decoding through libheif (libheif-rs)
  libheif-dev
  # build: librdkafka and libjpeg-turbo (turbojpeg, with its SIMD assembly) are compiled from bundled source
  build-essential cmake nasm
  # test infrastructure and independent checkers of outputs
  postgresql ffmpeg imagemagick libvips-tools libimage-exiftool-perl curl
  # deployment checks: promtool (alert rules); the container test installs podman itself (containers.sh)
  prometheus
  # the upload page's test: headless Chromium driven by Playwright (from PyPI, its browser download off)
  chromium
)
# build: the upload page is bundled with npm (ingest's build script); Debian's Node.js only where none is installed
command -v npm >/dev/null 2>&1 || PKGS+=(nodejs npm)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "installing system packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
