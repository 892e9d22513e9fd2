#!/usr/bin/env bash
# docker-base.sh builds a local stand-in for the Dockerfile's base images where no container registry can be reached.
#
# It makes node:20-bookworm-slim (and debian:bookworm-slim, the final stage's base) from Debian's own packages:
# `debootstrap --variant=minbase bookworm` from the mirror apt uses here, this machine's node 20 binary, npm and node
# headers laid out as the official image has them (/usr/local/bin, /usr/local/lib/node_modules/npm,
# /usr/local/include/node), npm's CA bundle when this machine's npm names one (npm config cafile), and the `node`
# user (uid 1000). Where the images already exist it does nothing
# (--force rebuilds them).
#
#   bash scripts/docker-base.sh [--force]      # ENGINE=docker|podman to choose the engine (default: podman if present)
set -euo pipefail

NODE_IMAGE=docker.io/library/node:20-bookworm-slim
DEBIAN_IMAGE=docker.io/library/debian:bookworm-slim
FORCE=0
[ "${1:-}" = "--force" ] && FORCE=1

ENGINE=${ENGINE:-$(command -v podman >/dev/null && echo podman || echo docker)}
command -v "$ENGINE" >/dev/null || { echo "docker-base: no $ENGINE" >&2; exit 1; }
exists() { "$ENGINE" image inspect "$1" >/dev/null 2>&1; }
if [ $FORCE = 0 ] && exists $NODE_IMAGE && exists $DEBIAN_IMAGE; then
  echo "docker-base: $NODE_IMAGE and $DEBIAN_IMAGE exist (--force to rebuild)"
  exit 0
fi

NODE_BIN=$(command -v node)
case "$("$NODE_BIN" --version)" in v20.*) ;; *) echo "docker-base: needs node 20 on this machine, found $("$NODE_BIN" --version)" >&2; exit 1 ;; esac
NODE_PREFIX=$("$NODE_BIN" -p 'process.execPath.replace(/\/bin\/node$/, "")')
NPM_DIR=$NODE_PREFIX/lib/node_modules/npm
HEADERS=$NODE_PREFIX/include/node
[ -d "$NPM_DIR" ] && [ -f "$HEADERS/node.h" ] || { echo "docker-base: npm ($NPM_DIR) or node headers ($HEADERS) missing" >&2; exit 1; }
command -v debootstrap >/dev/null || apt-get install -y --no-install-recommends debootstrap

# the Debian mirror apt uses on this machine (deb822 sources first, then the one-line format)
MIRROR=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -1 || true)
[ -n "$MIRROR" ] || MIRROR=$(grep -hs '^deb ' /etc/apt/sources.list | awk '{print $2}' | head -1 || true)
MIRROR=${MIRROR:-http://deb.debian.org/debian}

WORK=$(mktemp -d /var/tmp/prescient-base.XXXXXX)
trap 'rm -rf --one-file-system "$WORK"' EXIT   # never into a /proc or /sys a failed debootstrap left mounted
ROOT=$WORK/rootfs
echo "docker-base: debootstrap minbase bookworm from $MIRROR"
debootstrap --variant=minbase bookworm "$ROOT" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 || { tail -20 "$WORK/debootstrap.log" >&2; exit 1; }

# slim as debian:*-slim is: no docs, man pages or locales, no package caches or lists
rm -rf "$ROOT"/usr/share/doc/* "$ROOT"/usr/share/man/* "$ROOT"/usr/share/info/* "$ROOT"/usr/share/locale/* \
  "$ROOT"/var/cache/apt/*.bin "$ROOT"/var/cache/apt/archives/*.deb "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/log/*.log
mkdir -p "$ROOT/etc/dpkg/dpkg.cfg.d"
printf 'path-exclude /usr/share/doc/*\npath-exclude /usr/share/man/*\npath-exclude /usr/share/info/*\npath-exclude /usr/share/locale/*\n' \
  >"$ROOT/etc/dpkg/dpkg.cfg.d/docker-slim"
import_image() { # DIR IMAGE CMD
  local out
  out=$(tar -C "$1" --numeric-owner -c . | "$ENGINE" import --change "CMD [\"$3\"]" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$2" 2>&1) || { echo "$out" >&2; exit 1; }
  echo "docker-base: $2 built"
}
import_image "$ROOT" $DEBIAN_IMAGE bash

# the node image's additions: its `node` user (uid 1000), and node's own files where the official image has them
chroot "$ROOT" groupadd --gid 1000 node
chroot "$ROOT" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
mkdir -p "$ROOT/usr/local/bin" "$ROOT/usr/local/lib/node_modules" "$ROOT/usr/local/include"
cp "$NODE_BIN" "$ROOT/usr/local/bin/node"
cp -a "$NPM_DIR" "$ROOT/usr/local/lib/node_modules/npm"
cp -a "$HEADERS" "$ROOT/usr/local/include/node"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$ROOT/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$ROOT/usr/local/bin/npx"
# where this machine's npm trusts its own CA bundle (the registry is reached through it), so does the image's npm
CAFILE=$(npm config get cafile 2>/dev/null || true)
if [ -n "$CAFILE" ] && [ "$CAFILE" != null ] && [ -f "$CAFILE" ]; then
  mkdir -p "$ROOT/usr/local/share/ca-certificates" "$ROOT/usr/local/etc"
  cp "$CAFILE" "$ROOT/usr/local/share/ca-certificates/npm-ca-bundle.crt"
  echo "cafile=/usr/local/share/ca-certificates/npm-ca-bundle.crt" >"$ROOT/usr/local/etc/npmrc"
fi
chroot "$ROOT" /usr/local/bin/node --version >/dev/null
import_image "$ROOT" $NODE_IMAGE node
"$ENGINE" image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E 'node:20-bookworm-slim|debian:bookworm-slim'
