#!/usr/bin/env bash
# The load run (issue: nothing lost): a 10 000-item batch through the full pipeline on real Kafka, SeaweedFS
# and PostgreSQL, then the pipeline-overhead benchmark against the same pipeline. Not part of the test
# command: it takes several minutes. Usage: scripts/load.sh [COUNT]   (default 10000)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/infra/common.sh
COUNT="${1:-10000}"
source scripts/infra/pipeline.sh
pipeline_up load
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
