# Shared helpers for the infrastructure scripts. Sourced, not run.
# Caches live outside the clone so repeated CI runs on one machine reuse them.
MEDIAMILL_CACHE="${MEDIAMILL_CACHE:-/var/tmp/mediamill-cache}"
KAFKA_VERSION="4.4.0"
SEAWEEDFS_VERSION="4.48"
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
