#!/usr/bin/env bash
# A Debian bookworm base image made here, for building mlbus's images without a public
# container registry: `debootstrap --variant=minbase` plus Python 3.11 and CA certificates,
# then `docker import`. Tagged by the hash of this recipe, so a second run finds the image
# and skips the bootstrap. Prints the image's tag on its last line.
# The image trusts what the host trusts: the CA certificates the host added to its own store
# (/usr/local/share/ca-certificates, e.g. a TLS-inspecting egress proxy's) are installed in it,
# and pip and uv are pointed at the system bundle, so a build reaches the package registries
# the way the host does.
#   scripts/debian-base-image.sh [DOCKER_CLI]
set -euo pipefail

docker=${1:-docker}
suite=bookworm
mirror=${MLBUS_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# python3-venv brings ensurepip (the Dockerfile installs uv from PyPI into a venv);
# ca-certificates lets pip and uv reach the package index over HTTPS.
packages=python3,python3-venv,ca-certificates
local_cas=/usr/local/share/ca-certificates
ca_files=$(find "$local_cas" -name '*.crt' -type f 2>/dev/null | sort)
ca_hash=$(for f in $ca_files; do sha256sum "$f"; done | sha256sum | cut -c1-64)
recipe="$suite $mirror $packages $ca_hash $(sha256sum "$0" | cut -c1-64)"
tag="mlbus-base/debian-python:$suite-$(printf '%s' "$recipe" | sha256sum | cut -c1-12)"

if "$docker" image inspect "$tag" >/dev/null 2>&1; then
  echo "debian-base-image: $tag exists" >&2
  echo "$tag"
  exit 0
fi

root=$(mktemp -d /var/tmp/mlbus-debootstrap.XXXXXX)
trap 'rm -rf "$root"' EXIT
chmod 0755 "$root"  # mktemp makes it 0700: it becomes the image's /, which every user must enter
started=$(date +%s)
echo "debian-base-image: debootstrap $suite into $root" >&2
debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$mirror" >&2
if [ -n "$ca_files" ]; then
  mkdir -p "$root$local_cas"
  # shellcheck disable=SC2086  # one path a line, no spaces in them
  cp $ca_files "$root$local_cas/"
  chroot "$root" update-ca-certificates >&2
fi
# Smaller image: no apt lists or package cache (a Dockerfile runs apt-get update itself).
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
tar -C "$root" -c . | "$docker" import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
  --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
  --change 'CMD ["/bin/bash"]' - "$tag" >&2
echo "debian-base-image: $tag built in $(($(date +%s) - started)) s" >&2
echo "$tag"
