#!/usr/bin/env bash
# The upload benchmark (issue 16): a 1 GiB file through POST /v1/media and through tus in 8 MiB requests, against
# a raw aws-sdk-s3 PutObject to the same SeaweedFS, with ingest's peak memory. Its own Kafka, SeaweedFS and
# PostgreSQL; ingest alone (nothing processes the uploads). Usage: scripts/bench-upload.sh [SIZE_MIB]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/infra/common.sh
SIZE="${1:-1024}"
# One bucket, so volumes of a GiB as a store in use has (SeaweedFS's own default is 30 GB), not the tests' 64 MB.
export MEDIAMILL_SEAWEED_VOLUME_MB="${MEDIAMILL_SEAWEED_VOLUME_MB:-1024}"
source scripts/infra/pipeline.sh
pipeline_up upload
export MEDIAMILL_STORE__S3__BUCKET=mediamill
start ingest ingest
wait_port "$PORT" 60
"$BIN" bench upload --url "http://127.0.0.1:$PORT" --key "$KEY" --size-mib "$SIZE" --pid "${PIDS[0]}" "${@:2}"
