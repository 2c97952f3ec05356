#!/usr/bin/env bash
# The test command: installs what the build and tests need, starts the real Kafka, SeaweedFS and PostgreSQL
# on free loopback ports, runs every test against them, and tears them down again.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-system-deps.sh
bash scripts/infra/kafka.sh install
bash scripts/infra/seaweedfs.sh install
bash scripts/infra/pytools.sh install
export MEDIAMILL_TEST_PYTHON="${MEDIAMILL_CACHE:-/var/tmp/mediamill-cache}/pytools/bin/python"
# tus-js-client for the tests, from its lockfile (npm's own cache makes repeat runs offline-fast)
(cd tests/clients/node && npm ci --no-audit --no-fund --loglevel=error >/dev/null)

STACK="$(mktemp -d /tmp/mediamill-stack.XXXXXX)"
cleanup() { bash scripts/infra/stack.sh down "$STACK" || true; rm -rf "$STACK"; }
trap cleanup EXIT
bash scripts/infra/stack.sh up "$STACK"
# shellcheck disable=SC1091
source "$STACK/env"

# CI builds clean clones into the shared target folder: incremental caches would only pile up there (31 GB
# seen), so they are off for the test command.
export CARGO_INCREMENTAL=0
# One format for the whole tree (rustfmt.toml): an unformatted file fails the run before anything is built.
cargo fmt --all --check
# Build first so the (long) compile is not counted against the tests' own timeouts.
cargo build --workspace --all-targets --locked
# Lints are part of the build: a warning fails the run.
cargo clippy --workspace --all-targets --locked -- -D warnings
LOG="$STACK/cargo-test.log"
set +e
cargo test --workspace --all-targets --locked --no-fail-fast -- --test-threads 4 2>&1 | tee "$LOG"
status=${PIPESTATUS[0]}
set -e
# What operators deploy: manifests against the Kubernetes and KEDA schemas, alert rules, the metric reference;
# then the images and the compose stack on this host (scripts/test-containers.sh).
deploy=0; bash scripts/check-deploy.sh > "$STACK/deploy.log" 2>&1 || deploy=$?
[ "$deploy" -eq 0 ] || cat "$STACK/deploy.log"
containers=0; bash scripts/test-containers.sh || containers=$?
# One closing line over every test binary, so the total is read, not the last binary's count.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$LOG"
echo "deploy checks: $([ "$deploy" -eq 0 ] && echo passed || echo FAILED)"
echo "container test: $([ "$containers" -eq 0 ] && echo passed || echo FAILED)"
[ "$status" -eq 0 ] && [ "$deploy" -eq 0 ] && [ "$containers" -eq 0 ]
