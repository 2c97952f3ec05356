#!/usr/bin/env bash
# The first command: installs the build's system packages, builds mediamill, and runs `mediamill demo`, which
# starts every role on the embedded default (SQLite, local disk, in-process broker), processes the fixture
# corpus and checks every outcome.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system-deps.sh
cargo run --locked --quiet -- demo "$@"
