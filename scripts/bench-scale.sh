#!/usr/bin/env bash
# The scale-out benchmark (issue: operators can scale it): starts its own Kafka, SeaweedFS and PostgreSQL and an
# ingest, then `mediamill bench scale` drains N real photographs with one image worker and with two, each pinned to
# its own CPU, and prints the ratio and every process's CPU. Not part of the test command (minutes of CPU).
#   scripts/bench-scale.sh [COUNT]   (default 228: the photographs six times over, so jobs spread evenly)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/infra/common.sh
COUNT="${1:-228}"
bash scripts/install-system-deps.sh
bash scripts/infra/kafka.sh install
bash scripts/infra/seaweedfs.sh install
PHOTOS=$(bash scripts/fetch-bench-photos.sh)
cargo build --locked --quiet
BIN="$MEDIAMILL_CACHE/target/debug/mediamill"

RUN="$(mktemp -d /tmp/mediamill-scale.XXXXXX)"
chmod 755 "$RUN"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  bash scripts/infra/stack.sh down "$RUN/stack" >/dev/null 2>&1 || true
}
trap cleanup EXIT
bash scripts/infra/stack.sh up "$RUN/stack"
source "$RUN/stack/env"
PORT=$(free_port)
export MEDIAMILL_DATABASE__URL="$MEDIAMILL_TEST_DATABASE_URL"
export MEDIAMILL_STORE__BACKEND=s3 MEDIAMILL_STORE__S3__ENDPOINT="$MEDIAMILL_TEST_S3_ENDPOINT"
export MEDIAMILL_STORE__S3__ACCESS_KEY="$MEDIAMILL_TEST_S3_ACCESS_KEY" MEDIAMILL_STORE__S3__SECRET_KEY="$MEDIAMILL_TEST_S3_SECRET_KEY"
export MEDIAMILL_KAFKA__BROKERS="$MEDIAMILL_TEST_KAFKA" MEDIAMILL_KAFKA__JOB_PARTITIONS=6
export MEDIAMILL_SERVER__LISTEN="127.0.0.1:$PORT"
"$BIN" topics > /dev/null
KEY=$("$BIN" keys create --tenant scale 2>/dev/null)
"$BIN" tenants set scale --limit requests_per_sec=0 --limit upload_bytes_per_sec=0 --limit concurrent_uploads=0 > /dev/null
"$BIN" ingest > "$RUN/ingest.log" 2>&1 & PIDS+=($!)
"$BIN" batch > "$RUN/batch.log" 2>&1 & PIDS+=($!)
wait_port "$PORT" 60
STACK="$RUN/stack"
INFRA="ingest:${PIDS[0]},batch:${PIDS[1]},kafka:$(cat "$STACK/kafka/pid"),s3:$(cat "$STACK/s3/pid"),postgres:$(head -1 "$STACK/pg/data/postmaster.pid")"
"$BIN" bench scale --url "http://127.0.0.1:$PORT" --key "$KEY" --photos "$PHOTOS" --count "$COUNT" --infra "$INFRA"
