#!/usr/bin/env bash
# A Docker engine for the container tier (tests/containers), started only when none answers:
#   Debian's docker.io (dockerd, containerd, runc, and the docker CLI whose built-in BuildKit
#   builds `RUN --mount=type=cache`) and debootstrap (the tier's base image), installed with
#   apt-get only when missing; then dockerd with the vfs storage driver, which needs no
#   overlay support from the kernel or the filesystem. Safe to run again: exits 0 at once
#   when an engine answers. Exits 1 (saying why) when no engine can be had.
# Prints the docker CLI to use on its last line.
set -euo pipefail

log=${MLBUS_DOCKERD_LOG:-/var/log/mlbus-dockerd.log}
docker_cli=/usr/bin/docker  # Debian's: the machine may have another CLI without buildx first on PATH

engine_answers() { [ -x "$docker_cli" ] && "$docker_cli" info >/dev/null 2>&1; }

if engine_answers; then
  echo "$docker_cli"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if ! sudo -n true 2>/dev/null; then
    echo "docker-engine: no engine answers and this user cannot become root to start one" >&2
    exit 1
  fi
  SUDO="sudo -n"
fi

missing=()
[ -x /usr/sbin/dockerd ] && [ -x "$docker_cli" ] || missing+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "docker-engine: apt-get install ${missing[*]}" >&2
  $SUDO apt-get update -qq >&2
  $SUDO env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

if ! pgrep -x dockerd >/dev/null; then
  echo "docker-engine: starting dockerd (vfs storage), log in $log" >&2
  # setsid: the engine outlives this script and the test run that needed it.
  $SUDO setsid /usr/sbin/dockerd --storage-driver=vfs >"$log" 2>&1 </dev/null &
fi
for _ in $(seq 1 60); do
  if engine_answers; then
    echo "$docker_cli"
    exit 0
  fi
  sleep 1
done
echo "docker-engine: dockerd did not answer within 60 s; last lines of $log:" >&2
tail -n 20 "$log" >&2 || true
exit 1
