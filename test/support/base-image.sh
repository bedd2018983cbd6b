#!/usr/bin/env bash
# Builds the local base image the runner and control-plane images are built FROM in tests, a
# stand-in for node:20-bookworm-slim: no registry can be pulled from on these machines, so the
# root file system comes from Debian's archive via debootstrap (see shared/ENVIRONMENT.md), and
# Node.js is this machine's own Node 20 binary (Debian bookworm's nodejs is 18, older than the
# control plane's dependencies allow). Idempotent: an existing image is kept.
set -euo pipefail
image="${1:-local/bookworm-node:2}"
if docker image inspect "$image" >/dev/null 2>&1; then
  echo "base image $image present"
  exit 0
fi
command -v debootstrap >/dev/null || { echo "debootstrap is not installed" >&2; exit 1; }
node_bin="$(command -v node)"
case "$("$node_bin" --version)" in
  v20.*) ;;
  *) echo "the base image needs Node 20; $node_bin is $("$node_bin" --version)" >&2; exit 1 ;;
esac
rootfs="$(mktemp -d /var/tmp/codex-dispatcher-rootfs.XXXXXX)"
trap 'rm -rf "$rootfs"' EXIT
debootstrap --variant=minbase --include=ca-certificates,git,procps,libstdc++6 \
  bookworm "$rootfs" http://deb.debian.org/debian >/dev/null
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
install -m 0755 "$node_bin" "$rootfs/usr/local/bin/node"
chroot "$rootfs" /usr/local/bin/node --version >/dev/null
tar -C "$rootfs" -c . | docker import - "$image" >/dev/null
echo "base image $image built"
