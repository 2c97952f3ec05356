#!/usr/bin/env bash
# The upload benchmark (issue 16): a 1 GiB file through POST /v1/media and through tus in 8 MiB requests, against
# a raw aws-sdk-s3 PutObject to the same SeaweedFS, with ingest's peak memory. Its own Kafka, SeaweedFS and
# PostgreSQL; ingest alone (nothing processes the uploads). Usage: scripts/bench-upload.sh [SIZE_MIB] [--apart] [bench flags]
# --apart pins ingest (with the database and Kafka it talks to) to one core and the store with this client to
# the other, as when ingest runs on machines of its own: every way, the anchor included, then gives the store
# and the client the same one core, and the hop through ingest pays its CPU on a core of its own.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/infra/common.sh
SIZE="${1:-1024}"
APART=0
ARGS=()
for a in "${@:2}"; do if [ "$a" = --apart ]; then APART=1; else ARGS+=("$a"); fi; done
# One bucket, so volumes of a GiB as a store in use has (SeaweedFS's own default is 30 GB), not the tests' 64 MB.
export MEDIAMILL_SEAWEED_VOLUME_MB="${MEDIAMILL_SEAWEED_VOLUME_MB:-1024}"
source scripts/infra/pipeline.sh
pipeline_up upload
export MEDIAMILL_STORE__S3__BUCKET=mediamill
start ingest ingest
wait_port "$PORT" 60
STACK="$RUN/stack"
S3=$(cat "$STACK/s3/pid") PG=$(head -1 "$STACK/pg/data/postmaster.pid") KAFKA=$(cat "$STACK/kafka/pid")
PROCS="ingest:${PIDS[0]},s3:$S3,postgres:$PG,kafka:$KAFKA"
CLIENT=()
if [ "$APART" = 1 ]; then
  # Every thread of a process and of its children (new PostgreSQL backends inherit the postmaster's).
  pin() { taskset -a -p -c "$1" "$2" > /dev/null; for c in $(pgrep -P "$2"); do pin "$1" "$c"; done; }
  pin 0 "$S3"
  for p in "${PIDS[0]}" "$PG" "$KAFKA"; do pin 1 "$p"; done
  CLIENT=(taskset -c 0)
fi
"${CLIENT[@]}" "$BIN" bench upload --url "http://127.0.0.1:$PORT" --key "$KEY" --size-mib "$SIZE" --pid "${PIDS[0]}" \
  --procs "$PROCS" ${ARGS[@]+"${ARGS[@]}"}
