#!/usr/bin/env bash
# The app's notification service on the real stack (issue 17): ingest, the notifier and the analytics role as
# separate processes on their own Kafka and PostgreSQL; `mediamill bench social` publishes a realistic mix of
# social events, checks the outcome exactly, and prints events per CPU-second against the raw consume rate and
# event→feed latency. Usage: scripts/bench-social.sh [EVENTS] [extra `bench social` flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/infra/common.sh
EVENTS="${1:-100000}"
shift || true
source scripts/infra/pipeline.sh
pipeline_up social
start ingest ingest
start notify notify
start social social
wait_port "$PORT" 60
sleep 3
STACK="$RUN/stack"
PROCS="notify:${PIDS[1]},social:${PIDS[2]},kafka:$(cat "$STACK/kafka/pid"),postgres:$(head -1 "$STACK/pg/data/postmaster.pid")"
"$BIN" bench social --url "http://127.0.0.1:$PORT" --events "$EVENTS" --procs "$PROCS" "$@"
