#!/usr/bin/env bash
# The pipeline's own cost on the real stack (issue 15): one batch of small photos through ingest, an image worker,
# the batch tracker and the notifier as separate processes on their own Kafka, SeaweedFS and PostgreSQL, against
# `mediamill process` on the same files, with each process's CPU. Usage: scripts/bench-throughput.sh [COUNT]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/infra/common.sh
COUNT="${1:-190}"
source scripts/infra/pipeline.sh
pipeline_up throughput
start ingest ingest
start worker worker --kind image
start batch batch
start notify notify
wait_port "$PORT" 60
sleep 3
STACK="$RUN/stack"
PROCS="ingest:${PIDS[0]},worker:${PIDS[1]},batch:${PIDS[2]},notify:${PIDS[3]},kafka:$(cat "$STACK/kafka/pid"),s3:$(cat "$STACK/s3/pid"),postgres:$(head -1 "$STACK/pg/data/postmaster.pid")"
"$BIN" bench throughput --count "$COUNT" --url "http://127.0.0.1:$PORT" --key "$KEY" --procs "$PROCS"
