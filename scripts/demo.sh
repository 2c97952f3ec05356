#!/usr/bin/env bash
# The first command: installs the build's system packages, builds mediamill, and runs `mediamill demo`, which
# starts every role on the embedded default (SQLite, local disk, in-process broker), processes the fixture
# corpus and checks every outcome.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system-deps.sh
echo "building mediamill (the first build compiles FFmpeg bindings, librdkafka and libjpeg-turbo: about 20 minutes on 2 cores; later ones take seconds)" >&2
cargo build --locked
cargo run --locked --quiet -- demo "$@"
