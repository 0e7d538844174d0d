#!/usr/bin/env bash
# Builds the image atlasai/tenant-plane:$ATLAS_VERSION from a staged release of this checkout
# (scripts/build-release.sh; ATLAS_RELEASE_DIR packages one already staged).
#
#   ATLAS_VERSION=1.3.0 bash scripts/build-image.sh
#
# With the official Node.js base image at hand (present, or pullable), it is the base
# (deploy/docker/Dockerfile). Without a registry, the image is built offline: a root filesystem
# made of this machine's Node.js (and the libraries it links), the release, and a non-root user,
# imported as one layer (docker import). Either way the release's release.json is
# /app/release.json and the label org.atlasai.release, so `docker image inspect` reads it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="${ATLAS_VERSION:?set ATLAS_VERSION, e.g. ATLAS_VERSION=1.3.0 bash scripts/build-image.sh}"
image="${ATLAS_IMAGE:-atlasai/tenant-plane}:$version"
base="${NODE_IMAGE:-node:24-bookworm-slim}"
export DOCKER_BUILDKIT="${DOCKER_BUILDKIT:-0}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
release="${ATLAS_RELEASE_DIR:-}"
if [ -z "$release" ]; then
  release="$(bash "$root/scripts/build-release.sh" "$work/release")"
fi
[ "$(cat "$release/.atlas-version")" = "$version" ] || { echo "build-image.sh: $release/.atlas-version is not $version" >&2; exit 2; }
[ -f "$release/release.json" ] || { echo "build-image.sh: $release has no release.json: stage it with scripts/build-release.sh" >&2; exit 2; }
metadata="$(node -e 'process.stdout.write(JSON.stringify(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))))' "$release/release.json")"

if docker image inspect "$base" >/dev/null 2>&1 || timeout 60 docker pull "$base" >/dev/null 2>&1; then
  cp -R "$release" "$work/app"
  docker build -q -f "$root/deploy/docker/Dockerfile" --build-arg "NODE_IMAGE=$base" --build-arg "ATLAS_VERSION=$version" --label "org.atlasai.release=$metadata" -t "$image" "$work" >/dev/null
  echo "$image"
  exit 0
fi

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
# One layer, made by docker import: a Dockerfile step would create a container each, and the vfs
# storage driver copies the whole image for every one. SIGTERM, Docker's default stop signal,
# stops it: Node.js is PID 1 and handles it.
docker import \
  --change 'USER 10001:10001' \
  --change 'WORKDIR /app' \
  --change 'ENV PATH=/usr/local/bin:/bin NODE_ENV=production ATLAS_HOST=0.0.0.0 ATLAS_PORT=3000 ATLAS_DATA_DIR=/data' \
  --change "LABEL org.opencontainers.image.version=$version" \
  --change "LABEL org.atlasai.release=$(node -e 'process.stdout.write(JSON.stringify(process.argv[1]))' "$metadata")" \
  --change 'EXPOSE 3000' \
  --change 'HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 CMD ["node", "/app/dist/cli/healthcheck.js"]' \
  --change 'CMD ["node", "/app/dist/cli/server.js"]' \
  "$work/rootfs.tar" "$image" >/dev/null
echo "$image"
