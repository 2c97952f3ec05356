#!/usr/bin/env bash
# The test stack: Kafka, SeaweedFS and PostgreSQL on free loopback ports, all state under one folder.
#   stack.sh up DIR     start all three; writes DIR/env with the MEDIAMILL_TEST_* variables the tests read
#   stack.sh down DIR   stop all three (safe to call twice, or on a half-started stack)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/common.sh"

up() {
  local dir=$1 kport s3port pgport
  mkdir -p "$dir"
  chmod 755 "$dir"
  kport=$(free_port); s3port=$(free_port); pgport=$(free_port)
  # The three start in parallel; each waits for its own readiness.
  "$HERE/kafka.sh" start "$dir/kafka" "$kport" & local k=$!
  "$HERE/seaweedfs.sh" start "$dir/s3" "$s3port" mediamill-test mediamill-test-secret & local s=$!
  "$HERE/postgres.sh" start "$dir/pg" "$pgport" mediamill & local p=$!
  # Every part is waited for (a failed one must not leave another still starting into a removed folder),
  # and the failed ones are named.
  local failed=""
  wait $k || failed="$failed kafka"
  wait $s || failed="$failed seaweedfs"
  wait $p || failed="$failed postgres"
  if [ -n "$failed" ]; then
    echo "stack up failed:$failed" >&2
    down "$dir"
    return 1
  fi
  cat > "$dir/env" <<ENV
export MEDIAMILL_TEST_KAFKA=127.0.0.1:$kport
export MEDIAMILL_TEST_S3_ENDPOINT=http://127.0.0.1:$s3port
export MEDIAMILL_TEST_S3_ACCESS_KEY=mediamill-test
export MEDIAMILL_TEST_S3_SECRET_KEY=mediamill-test-secret
export MEDIAMILL_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:$pgport/mediamill
export MEDIAMILL_TEST_STACK_DIR=$dir
ENV
  echo "stack up: kafka 127.0.0.1:$kport, s3 127.0.0.1:$s3port, postgres 127.0.0.1:$pgport" >&2
}

down() {
  local dir=$1
  "$HERE/kafka.sh" stop "$dir/kafka" || true
  "$HERE/seaweedfs.sh" stop "$dir/s3" || true
  "$HERE/postgres.sh" stop "$dir/pg" || true
}

"$@"
