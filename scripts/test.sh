#!/usr/bin/env bash
# The test command: installs what the build and tests need, starts the real Kafka, SeaweedFS and PostgreSQL
# on free loopback ports, runs every test against them, and tears them down again.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-system-deps.sh
bash scripts/infra/kafka.sh install
bash scripts/infra/seaweedfs.sh install

STACK="$(mktemp -d /tmp/mediamill-stack.XXXXXX)"
cleanup() { bash scripts/infra/stack.sh down "$STACK" || true; rm -rf "$STACK"; }
trap cleanup EXIT
bash scripts/infra/stack.sh up "$STACK"
# shellcheck disable=SC1091
source "$STACK/env"

# Build first so the (long) compile is not counted against the tests' own timeouts.
cargo build --workspace --tests --bins --locked
cargo test --workspace --locked -- --test-threads 4
