#!/usr/bin/env bash
# The load run (issue: nothing lost): a 10 000-item batch through the full pipeline on real Kafka, SeaweedFS
# and PostgreSQL, then the pipeline-overhead benchmark against the same pipeline. Not part of the test
# command: it takes several minutes. Usage: scripts/load.sh [COUNT]   (default 10000)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/infra/common.sh
COUNT="${1:-10000}"
bash scripts/install-system-deps.sh
bash scripts/infra/kafka.sh install
bash scripts/infra/seaweedfs.sh install
cargo build --locked --quiet
BIN="$MEDIAMILL_CACHE/target/debug/mediamill"

RUN="$(mktemp -d /tmp/mediamill-load.XXXXXX)"
chmod 755 "$RUN"  # PostgreSQL runs as its own user and must reach its folder
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
"$BIN" topics
KEY=$("$BIN" keys create --tenant load 2>/dev/null)
# The load is one tenant uploading as fast as it can: lift its rates (the [tenants] defaults).
"$BIN" tenants set load --limit requests_per_sec=0 --limit upload_bytes_per_sec=0 --limit concurrent_uploads=0 >/dev/null
start() { local name=$1; shift; "$BIN" "$@" > "$RUN/$name.log" 2>&1 & PIDS+=($!); }
start ingest ingest
start worker1 worker --kind image
start worker2 worker --kind image
start batch batch
wait_port "$PORT" 60
sleep 3
echo "pids: ingest ${PIDS[0]}, image workers ${PIDS[1]} ${PIDS[2]}, batch ${PIDS[3]}; logs in $RUN" >&2
"$BIN" bench load --url "http://127.0.0.1:$PORT" --key "$KEY" --count "$COUNT" --pids "$(IFS=,; echo "${PIDS[*]}")"
echo
"$BIN" bench pipeline --url "http://127.0.0.1:$PORT" --key "$KEY" --count 300 --rate 10
