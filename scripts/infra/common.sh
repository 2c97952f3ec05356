# Shared helpers for the infrastructure scripts. Sourced, not run.
# Caches live outside the clone so repeated CI runs on one machine reuse them.
MEDIAMILL_CACHE="${MEDIAMILL_CACHE:-/var/tmp/mediamill-cache}"
KAFKA_VERSION="4.4.0"
SEAWEEDFS_VERSION="4.48"
PODMAN_COMPOSE_VERSION="1.6.0"
INFRA_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# A TCP port that is free on loopback right now.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Waits until HOST:PORT accepts TCP connections, or fails after $2 seconds.
wait_port() {
  local port=$1 secs=${2:-60} i
  for ((i = 0; i < secs * 10; i++)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "port $port did not open within ${secs}s" >&2
  return 1
}

# Stops the process whose pid is in DIR/pid: TERM, up to 10 s, then KILL. Safe when nothing runs.
stop_pidfile() {
  local dir=$1 pid
  [ -f "$dir/pid" ] || return 0
  pid=$(cat "$dir/pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$dir/pid"
}

# The mediamill binary cargo builds here: its target folder comes from .cargo/config.toml, or CARGO_TARGET_DIR.
# `mediamill_bin release` names the release build (what ships, what the benchmarks measure).
mediamill_bin() {
  local dir
  dir=$(cargo metadata --format-version 1 --no-deps --offline 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
  echo "${dir:-$MEDIAMILL_CACHE/target}/${1:-debug}/mediamill"
}
