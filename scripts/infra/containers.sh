#!/usr/bin/env bash
# Podman on this machine kind: what building and running the project's images needs (see docs/deploy.md).
#   containers.sh install   podman, mmdebstrap, runc, catatonit (Debian) and podman-compose (PyPI, in a cached venv)
#   containers.sh conf      writes the containers.conf podman needs here; prints the path for CONTAINERS_CONF
#   containers.sh base      makes localhost/debian:bookworm-local from Debian's mirror (no registry is reachable),
#                           cached as a tar outside the clone
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
COMPOSE_VENV="$MEDIAMILL_CACHE/podman-compose-$PODMAN_COMPOSE_VERSION"
BASE_TAR="$MEDIAMILL_CACHE/debian-bookworm-minbase.tar"
BASE_IMAGE="localhost/debian:bookworm-local"

install() {
  local missing=() p
  for p in podman mmdebstrap uidmap runc catatonit; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  if [ ! -x "$COMPOSE_VENV/bin/podman-compose" ]; then
    python3 -m venv "$COMPOSE_VENV"
    "$COMPOSE_VENV/bin/pip" install -q "podman-compose==$PODMAN_COMPOSE_VERSION"
  fi
}

# Root here cannot raise RLIMIT_NOFILE past the hard limit, podman caps NPROC at 32768, and crun refuses this
# host's hybrid cgroups: so explicit ulimits, runc and cgroupfs.
conf() {
  local f="$MEDIAMILL_CACHE/containers.conf" n
  n=$(ulimit -Hn)
  mkdir -p "$MEDIAMILL_CACHE"
  cat > "$f" <<CONF
[containers]
default_ulimits = ["nofile=$n:$n", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
  echo "$f"
}

base() {
  export CONTAINERS_CONF; CONTAINERS_CONF=$(conf)
  if podman image exists "$BASE_IMAGE"; then return 0; fi
  if [ ! -s "$BASE_TAR" ]; then
    local mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
    local sec=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
    mmdebstrap --quiet --format=tar --variant=minbase --mode=root bookworm "$BASE_TAR.part" \
      "deb $mirror bookworm main" "deb $mirror bookworm-updates main" "deb $sec bookworm-security main"
    mv "$BASE_TAR.part" "$BASE_TAR"
  fi
  podman import --quiet --change 'CMD ["bash"]' "$BASE_TAR" "$BASE_IMAGE" > /dev/null
}

"$@"
