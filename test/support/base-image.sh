#!/usr/bin/env bash
# Builds the local base image the runner and control-plane images are built FROM in tests.
# No registry can be pulled from on these machines, so the base comes from Debian's archive via
# debootstrap and `docker import` (see shared/ENVIRONMENT.md). Idempotent: an existing image is kept.
set -euo pipefail
image="${1:-local/bookworm-node:1}"
if docker image inspect "$image" >/dev/null 2>&1; then
  echo "base image $image present"
  exit 0
fi
command -v debootstrap >/dev/null || { echo "debootstrap is not installed" >&2; exit 1; }
rootfs="$(mktemp -d /var/tmp/codex-dispatcher-rootfs.XXXXXX)"
trap 'rm -rf "$rootfs"' EXIT
debootstrap --variant=minbase --include=ca-certificates,git,nodejs,procps \
  bookworm "$rootfs" http://deb.debian.org/debian >/dev/null
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
tar -C "$rootfs" -c . | docker import - "$image" >/dev/null
echo "base image $image built"
