# The pipeline the load and scale benchmarks run against, on their own Kafka, SeaweedFS and PostgreSQL. Sourced
# (after common.sh), not run:
#   pipeline_up NAME    builds, starts the stack in $RUN, exports the MEDIAMILL_* settings, makes the topics and an
#                       API key ($KEY) for tenant NAME with its rates lifted (it uploads as fast as it can)
#   start LOG ARGS...   runs `mediamill ARGS` in the background, its output in $RUN/LOG.log, its pid added to PIDS
# Everything started is stopped on exit.
bash scripts/install-system-deps.sh
bash scripts/infra/kafka.sh install
bash scripts/infra/seaweedfs.sh install
# Benchmarks measure what ships: a release build (a dev build runs our own code at opt-level 1 with overflow checks).
cargo build --release --locked --quiet
BIN="$(mediamill_bin release)"
PIDS=()

pipeline_cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  bash scripts/infra/stack.sh down "$RUN/stack" >/dev/null 2>&1 || true
  # The stack's data (a benchmark's gigabytes in SeaweedFS) goes; the processes' logs in $RUN stay.
  rm -rf "$RUN/stack"
}

pipeline_up() {
  local tenant=$1
  RUN="$(mktemp -d "/tmp/mediamill-$tenant.XXXXXX")"
  chmod 755 "$RUN"  # PostgreSQL runs as its own user and must reach its folder
  trap pipeline_cleanup EXIT
  bash scripts/infra/stack.sh up "$RUN/stack"
  source "$RUN/stack/env"
  PORT=$(free_port)
  export MEDIAMILL_DATABASE__URL="$MEDIAMILL_TEST_DATABASE_URL"
  export MEDIAMILL_STORE__BACKEND=s3 MEDIAMILL_STORE__S3__ENDPOINT="$MEDIAMILL_TEST_S3_ENDPOINT"
  export MEDIAMILL_STORE__S3__ACCESS_KEY="$MEDIAMILL_TEST_S3_ACCESS_KEY" MEDIAMILL_STORE__S3__SECRET_KEY="$MEDIAMILL_TEST_S3_SECRET_KEY"
  export MEDIAMILL_KAFKA__BROKERS="$MEDIAMILL_TEST_KAFKA" MEDIAMILL_KAFKA__JOB_PARTITIONS=6
  export MEDIAMILL_SERVER__LISTEN="127.0.0.1:$PORT"
  "$BIN" topics > /dev/null
  KEY=$("$BIN" keys create --tenant "$tenant" 2>/dev/null)
  "$BIN" tenants set "$tenant" --limit requests_per_sec=0 --limit upload_bytes_per_sec=0 --limit concurrent_uploads=0 > /dev/null
}

start() { local name=$1; shift; "$BIN" "$@" > "$RUN/$name.log" 2>&1 & PIDS+=($!); }
