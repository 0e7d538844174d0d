#!/usr/bin/env bash
# Builds the image atlasai/tenant-plane:$ATLAS_VERSION.
#
#   ATLAS_VERSION=1.3.0 bash scripts/build-image.sh
#
# With the official Node.js base image at hand (present, or pullable), it runs `docker build`
# with deploy/docker/Dockerfile. Without a registry, it builds offline: a root filesystem made of
# this machine's Node.js (and the libraries it links), the staged release, and a non-root user,
# built FROM scratch with deploy/docker/Dockerfile.offline. ATLAS_RELEASE_DIR packages an
# already staged release (scripts/build-release.sh) instead of this checkout.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="${ATLAS_VERSION:?set ATLAS_VERSION, e.g. ATLAS_VERSION=1.3.0 bash scripts/build-image.sh}"
image="${ATLAS_IMAGE:-atlasai/tenant-plane}:$version"
base="${NODE_IMAGE:-node:20-bookworm-slim}"
export DOCKER_BUILDKIT="${DOCKER_BUILDKIT:-0}"

if [ -z "${ATLAS_RELEASE_DIR:-}" ] && { docker image inspect "$base" >/dev/null 2>&1 || timeout 60 docker pull "$base" >/dev/null 2>&1; }; then
  docker build -f "$root/deploy/docker/Dockerfile" --build-arg "NODE_IMAGE=$base" --build-arg "ATLAS_VERSION=$version" -t "$image" "$root"
  echo "$image"
  exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
release="${ATLAS_RELEASE_DIR:-}"
if [ -z "$release" ]; then
  release="$(bash "$root/scripts/build-release.sh" "$work/release")"
fi
[ "$(cat "$release/.atlas-version")" = "$version" ] || { echo "build-image.sh: $release/.atlas-version is not $version" >&2; exit 2; }

rootfs="$work/rootfs"
mkdir -p "$rootfs/usr/local/bin" "$rootfs/bin" "$rootfs/etc" "$rootfs/tmp" "$rootfs/data"
chmod 1777 "$rootfs/tmp"
# Node.js runs the app; cat is there for the operator guide's `docker compose exec tenant-plane
# cat /app/.atlas-version`; pg_dump and psql for `tpctl backup create` / `restore` in the image (the
# Helm chart's pre-upgrade backup Job). Debian's /usr/bin/pg_dump is a Perl wrapper: the binaries
# themselves are in /usr/lib/postgresql/<major>/bin.
node="$(command -v node)"
cp "$(readlink -f "$node")" "$rootfs/usr/local/bin/node"
cp "$(readlink -f "$(command -v cat)")" "$rootfs/bin/cat"
bins=("$node" "$(command -v cat)")
pg_bin="$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)"
if [ -n "$pg_bin" ]; then
  for tool in pg_dump psql; do
    cp "$pg_bin/$tool" "$rootfs/usr/local/bin/$tool"
    bins+=("$pg_bin/$tool")
  done
else
  echo "build-image.sh: no PostgreSQL client here (apt-get install postgresql-client): the image cannot take backups" >&2
fi
for lib in $(for bin in "${bins[@]}"; do ldd "$bin"; done | grep -o '/[^ ]*' | sort -u); do
  mkdir -p "$rootfs$(dirname "$lib")"
  cp -L "$lib" "$rootfs$lib"
done
printf 'root:x:0:0:root:/root:/sbin/nologin\natlas:x:10001:10001:AtlasAI Tenant Plane:/app:/sbin/nologin\n' > "$rootfs/etc/passwd"
printf 'root:x:0:\natlas:x:10001:\n' > "$rootfs/etc/group"
cp -R "$release" "$rootfs/app"

tar -cf "$work/rootfs.tar" --numeric-owner --owner=0 --group=0 -C "$rootfs" --exclude=./app --exclude=./data .
tar -rf "$work/rootfs.tar" --numeric-owner --owner=10001 --group=10001 -C "$rootfs" ./app ./data
cp "$root/deploy/docker/Dockerfile.offline" "$work/Dockerfile"
docker build -q -f "$work/Dockerfile" --build-arg "ATLAS_VERSION=$version" -t "$image" "$work" >/dev/null
echo "$image"
