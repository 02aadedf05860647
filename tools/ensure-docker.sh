#!/usr/bin/env bash
# Make sure a Docker daemon answers. Installs Debian's docker.io and starts dockerd in the
# background when none does (root only), then waits for it with a deadline.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
log_dir="${TENANTCHAIN_RUN_DIR:-$root/.run}"
deadline_s="${DOCKER_START_DEADLINE:-60}"

if docker info >/dev/null 2>&1; then exit 0; fi

if ! command -v dockerd >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "ensure-docker: no Docker daemon answers and dockerd is not installed; install Docker (or run as root to let the set-up install Debian's docker.io)" >&2
    exit 1
  fi
  echo "ensure-docker: installing Debian's docker.io" >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "ensure-docker: no Docker daemon answers; start it (sudo systemctl start docker) or run as root" >&2
    exit 1
  fi
  mkdir -p "$log_dir"
  if ! pgrep -x dockerd >/dev/null; then
    echo "ensure-docker: starting dockerd (log: $log_dir/dockerd.log)" >&2
    # The CIS daemon baseline (orchestrator/host/daemon_baseline.py reads it back at start); user
    # namespaces: container root is an unprivileged host uid (the orchestrator refuses to run without).
    nohup dockerd --live-restore --no-new-privileges --icc=false --userland-proxy=false --userns-remap=default \
      --log-driver json-file --log-opt max-size=10m --log-opt max-file=3 \
      >>"$log_dir/dockerd.log" 2>&1 </dev/null &
    touch "$log_dir/dockerd.started-by-setup"
  fi
  for _ in $(seq 1 $((deadline_s * 4))); do
    docker info >/dev/null 2>&1 && exit 0
    sleep 0.25
  done
  echo "ensure-docker: dockerd did not answer within ${deadline_s}s; see $log_dir/dockerd.log" >&2
  exit 1
fi
