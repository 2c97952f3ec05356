#!/usr/bin/env bash
# The scale-out benchmark (issue: operators can scale it): starts its own Kafka, SeaweedFS and PostgreSQL and an
# ingest, then `mediamill bench scale` drains N real photographs with one image worker and with two, each pinned to
# its own CPU, and prints the ratio and every process's CPU. Not part of the test command (minutes of CPU).
#   scripts/bench-scale.sh [COUNT]   (default 228: the photographs six times over, so jobs spread evenly)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/infra/common.sh
COUNT="${1:-228}"
PHOTOS=$(bash scripts/fetch-bench-photos.sh)
source scripts/infra/pipeline.sh
pipeline_up scale
start ingest ingest
start batch batch
wait_port "$PORT" 60
STACK="$RUN/stack"
INFRA="ingest:${PIDS[0]},batch:${PIDS[1]},kafka:$(cat "$STACK/kafka/pid"),s3:$(cat "$STACK/s3/pid"),postgres:$(head -1 "$STACK/pg/data/postmaster.pid")"
"$BIN" bench scale --url "http://127.0.0.1:$PORT" --key "$KEY" --photos "$PHOTOS" --count "$COUNT" --infra "$INFRA"
