#!/usr/bin/env bash
# The container test: builds the images, brings docker/compose.yaml up on this host's network (loopback ports
# only, docker/compose.test.yaml), runs `mediamill qa` against it, scales the image workers 1 → 3 → 1 while a
# batch runs and SIGKILLs a worker container mid-batch (exact counts both times), then tears it all down.
#
#   scripts/test-containers.sh            wraps the binary the tests built (target/debug) in the runtime stage
#   scripts/test-containers.sh --full     the full multi-stage build (release, --locked, ~25 min on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/infra/common.sh
FULL=${1:-}

bash scripts/infra/containers.sh install
bash scripts/infra/kafka.sh install
bash scripts/infra/seaweedfs.sh install
bash scripts/infra/containers.sh base
export CONTAINERS_CONF; CONTAINERS_CONF=$(bash scripts/infra/containers.sh conf)
COMPOSE="$MEDIAMILL_CACHE/podman-compose-$PODMAN_COMPOSE_VERSION/bin/podman-compose"
BASE=localhost/debian:bookworm-local
BIN="$(mediamill_bin)"
[ -x "$BIN" ] || cargo build --locked --bin mediamill

RUN="$(mktemp -d /tmp/mediamill-containers.XXXXXX)"
PROJECT="mmtest$$"
log() { printf '[containers %s] %s\n' "$(date +%T)" "$*" >&2; }
compose() { "$COMPOSE" --podman-args= -p "$PROJECT" -f docker/compose.yaml -f docker/compose.test.yaml "$@"; }
cleanup() {
  local rc=$?
  if [ $rc -ne 0 ]; then
    log "failed; the last log lines of every container:"
    for c in $(podman ps -a --filter "label=io.podman.compose.project=$PROJECT" --format '{{.Names}}'); do
      echo "--- $c" >&2; podman logs --tail 15 "$c" >&2 2>&1 || true
    done
  fi
  compose down -v -t 2 > "$RUN/down.log" 2>&1 || true
  # Each run's rebuilt images leave the previous ones untagged: keep the cache, drop those.
  podman image prune -f > /dev/null 2>&1 || true
  rm -rf "$RUN"
  exit $rc
}
trap cleanup EXIT

# --- images ------------------------------------------------------------------------------------------------
build() { local tag=$1 ctx=$2; shift 2; podman build -q --format docker --build-arg BASE="$BASE" -t "$tag" "$@" "$ctx" > /dev/null; }
t0=$(date +%s)
if [ "$FULL" = "--full" ]; then
  # The sandbox's HTTPS goes through its own CA: the build reaches crates.io and rustup with the host's bundle.
  build localhost/mediamill:test . -f docker/Dockerfile --build-arg REVISION="$(git rev-parse HEAD)" \
    -v /etc/ssl/certs/ca-certificates.crt:/run/host-ca.crt:ro --build-arg CA_BUNDLE=/run/host-ca.crt
else
  mkdir -p "$RUN/bin"
  strip -o "$RUN/bin/mediamill" "$BIN"
  build localhost/mediamill:test "$RUN/bin" -f docker/Dockerfile --target prebuilt \
    --build-arg REVISION="$(git rev-parse HEAD)"
fi
log "mediamill image built in $(( $(date +%s) - t0 )) s: $(podman image inspect localhost/mediamill:test --format '{{.Size}}' | awk '{printf "%.0f MB", $1/1e6}')"
mkdir -p "$RUN/kafka" "$RUN/seaweedfs"
cp -r "$MEDIAMILL_CACHE/kafka-$KAFKA_VERSION" "$RUN/kafka/jars"; rm -f "$RUN/kafka/jars/.complete"
cp docker/infra/kafka/entrypoint.sh "$RUN/kafka/"
cp "$MEDIAMILL_CACHE/seaweedfs-$SEAWEEDFS_VERSION/bin/weed" "$RUN/seaweedfs/"
build localhost/mm-kafka:test "$RUN/kafka" -f docker/infra/kafka/Dockerfile
build localhost/mm-seaweedfs:test "$RUN/seaweedfs" -f docker/infra/seaweedfs/Dockerfile
build localhost/mm-postgres:test docker/infra/postgres -f docker/infra/postgres/Dockerfile
rm -rf "$RUN/kafka" "$RUN/seaweedfs"
log "images ready after $(( $(date +%s) - t0 )) s"

# --- the stack ---------------------------------------------------------------------------------------------
export MEDIAMILL_IMAGE=localhost/mediamill:test KAFKA_IMAGE=localhost/mm-kafka:test
export POSTGRES_IMAGE=localhost/mm-postgres:test SEAWEEDFS_IMAGE=localhost/mm-seaweedfs:test
for v in PG_PORT KAFKA_PORT KAFKA_CONTROLLER_PORT S3_PORT S3_MASTER_PORT S3_VOLUME_PORT S3_FILER_PORT \
         INGEST_PORT VIDEO_OPS_PORT BATCH_OPS_PORT NOTIFY_OPS_PORT; do
  export "$v=$(free_port)"
done
compose up -d > "$RUN/up.log" 2>&1 || { cat "$RUN/up.log" >&2; exit 1; }
URL="http://127.0.0.1:$INGEST_PORT"
for _ in $(seq 1 240); do curl -sf "$URL/readyz" > /dev/null && break; sleep 0.5; done
curl -sf "$URL/readyz" > /dev/null || { log "ingest never became ready"; exit 1; }
log "stack ready after $(( $(date +%s) - t0 )) s"
# Each role opens its backends and waits for the topics before it serves /healthz: give it the image's own
# HEALTHCHECK start period (60 s) to pass, as an orchestrator would, instead of one try the moment ingest is up.
healthy() { podman healthcheck run "${PROJECT}_$1_1" > /dev/null 2>&1; }
for c in batch notify worker-video; do
  for _ in $(seq 1 120); do healthy "$c" && break; sleep 0.5; done
  healthy "$c" || { log "$c: healthcheck failed"; exit 1; }
done
podman healthcheck run "${PROJECT}_ingest_1" > /dev/null || { log "ingest: healthcheck failed"; exit 1; }

# The host's binary is only a client here: operator commands and the QA check, over loopback.
export MEDIAMILL_DATABASE__URL="postgres://mediamill:mediamill@127.0.0.1:$PG_PORT/mediamill"
export MEDIAMILL_KAFKA__BROKERS="127.0.0.1:$KAFKA_PORT"
KEY=$("$BIN" keys create --tenant containers 2>/dev/null)
"$BIN" tenants set containers --limit requests_per_sec=0 --limit upload_bytes_per_sec=0 --limit concurrent_uploads=0 > /dev/null

log "mediamill qa fixtures/media"
"$BIN" qa fixtures/media --url "$URL" --key "$KEY" --timeout 300

# --- scaling and a killed worker ---------------------------------------------------------------------------
# Photographs big enough that a batch outlasts the scaling steps (~0.3 s of CPU each).
convert -size 2400x1600 plasma:fractal -quality 90 "$RUN/photo.jpg"
workers() { podman ps --filter "label=io.podman.compose.project=$PROJECT" --filter "label=io.podman.compose.service=worker-image" --format '{{.Names}}' | sort; }
# Creates a batch expecting COUNT files and uploads them; prints the batch id.
upload_batch() {
  local count=$1 id
  id=$(curl -sf -X POST "$URL/v1/batches" -H "authorization: Bearer $KEY" -H 'content-type: application/json' \
       -d "{\"expected_count\": $count}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  for i in $(seq 1 "$count"); do
    curl -sf -o /dev/null -X POST "$URL/v1/batches/$id/media" -H "authorization: Bearer $KEY" \
      -H "x-filename: photo-$i.jpg" --data-binary "@$RUN/photo.jpg" || { log "upload $i failed"; return 1; }
  done
  echo "$id"
}
# Counts of the batch as "processed failed outcome".
counts() {
  curl -sf "$URL/v1/batches/$1?limit=1" -H "authorization: Bearer $KEY" |
    python3 -c 'import json,sys; b=json.load(sys.stdin); c=b["counts"]; print(c.get("processed",0), c.get("failed",0), b.get("outcome") or "-")'
}
# Waits until N image workers are members of their consumer group (`mediamill status`), up to 60 s.
wait_members() {
  local n=$1 m=-1
  for _ in $(seq 1 120); do
    m=$("$BIN" status --json | python3 -c 'import json,sys; s=json.load(sys.stdin); print(next(len(g["members"]) for g in s["groups"] if g["group"].endswith(".workers.image")))')
    [ "$m" -eq "$n" ] && return 0
    sleep 0.5
  done
  log "expected $n image workers in the group, status shows $m"; return 1
}
# Waits until the batch has at least N processed items (or completes), up to 300 s.
wait_processed() {
  local id=$1 n=$2 p f o
  for _ in $(seq 1 600); do
    read -r p f o < <(counts "$id")
    if [ "$p" -ge "$n" ] || [ "$o" != "-" ]; then return 0; fi
    sleep 0.5
  done
  log "batch $id: only $p processed after 300 s"; return 1
}
# Waits for the batch to complete and checks it lost nothing: exactly COUNT processed, none failed.
expect_complete() {
  local id=$1 count=$2 what=$3 p f o
  for _ in $(seq 1 600); do
    read -r p f o < <(counts "$id")
    [ "$o" != "-" ] && break
    sleep 0.5
  done
  if [ "$o" != "completed" ] || [ "$p" -ne "$count" ] || [ "$f" -ne 0 ]; then
    log "$what: expected $count processed and 0 failed (outcome completed), got $p processed, $f failed, outcome $o"
    return 1
  fi
  log "$what: $p of $count processed, $f failed, outcome $o"
}

N=60
id=$(upload_batch $N)
wait_processed "$id" 5
compose up -d --no-deps --no-recreate --scale worker-image=3 worker-image > "$RUN/scale.log" 2>&1 || { cat "$RUN/scale.log" >&2; exit 1; }
[ "$(workers | wc -l)" -eq 3 ] || { log "scaling to 3 gave: $(workers | tr '\n' ' ')"; exit 1; }
wait_members 3
log "scaled to 3 image workers, all in the group: $(workers | tr '\n' ' ')"
wait_processed "$id" 30
# podman-compose 1.6 scales up only; down is what `docker compose --scale` does: the highest-numbered replicas
# are stopped gracefully (SIGTERM: in-flight jobs finish or are handed back) and removed.
workers | sort -t_ -k3 -n | tail -n +2 | xargs -r podman rm -f -t 60 > /dev/null
[ "$(workers | wc -l)" -eq 1 ] || { log "scaling back to 1 gave: $(workers | tr '\n' ' ')"; exit 1; }
log "scaled back to 1 image worker"
expect_complete "$id" $N "scaling 1 → 3 → 1 mid-batch"

compose up -d --no-deps --no-recreate --scale worker-image=2 worker-image > "$RUN/scale.log" 2>&1 || { cat "$RUN/scale.log" >&2; exit 1; }
# Both members hold partitions before the batch, so the one killed has jobs in hand.
wait_members 2
id=$(upload_batch $N)
wait_processed "$id" 10
victim=$(workers | tail -1)
podman kill -s KILL "$victim" > /dev/null
log "SIGKILLed $victim mid-batch ($(counts "$id" | cut -d' ' -f1) of $N processed)"
expect_complete "$id" $N "a worker killed mid-batch"
log "passed in $(( $(date +%s) - t0 )) s"
