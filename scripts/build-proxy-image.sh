#!/usr/bin/env bash
# Builds the image atlasai/tenant-plane-proxy:1, the Tenant Plane's proxy (HAProxy with
# deploy/proxy/haproxy.cfg), offline: a root filesystem of Debian's haproxy binary (and the
# libraries it links) and the configuration, imported as one layer. tpctl drives it through
# HAProxy's runtime API on /run/atlas-proxy/admin.sock (./data/proxy/admin.sock on the host).
#
#   apt-get install haproxy && bash scripts/build-proxy-image.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
image="${ATLAS_PROXY_IMAGE:-atlasai/tenant-plane-proxy:1}"
haproxy="$(command -v haproxy || true)"
[ -n "$haproxy" ] || { echo "build-proxy-image.sh: HAProxy is not installed here: apt-get install haproxy" >&2; exit 2; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"
mkdir -p "$rootfs/usr/sbin" "$rootfs/etc/haproxy" "$rootfs/run/atlas-proxy" "$rootfs/tmp"
chmod 1777 "$rootfs/tmp"
cp "$(readlink -f "$haproxy")" "$rootfs/usr/sbin/haproxy"
for lib in $(ldd "$haproxy" | grep -o '/[^ ]*' | sort -u); do
  mkdir -p "$rootfs$(dirname "$lib")"
  cp -L "$lib" "$rootfs$lib"
done
cp "$root/deploy/proxy/haproxy.cfg" "$rootfs/etc/haproxy/haproxy.cfg"
printf 'root:x:0:0:root:/root:/sbin/nologin\n' > "$rootfs/etc/passwd"
printf 'root:x:0:\n' > "$rootfs/etc/group"
tar -cf "$work/rootfs.tar" --numeric-owner --owner=0 --group=0 -C "$rootfs" .
# The defaults are a bridge network's: Compose's service and the candidate by name, both on 3000.
docker import \
  --change 'ENV ATLAS_PROXY_BIND=:3000 ATLAS_PROXY_SERVICE=tenant-plane:3000 ATLAS_PROXY_CANDIDATE=tenant-plane-candidate:3000' \
  --change "LABEL org.opencontainers.image.version=$("$haproxy" -v | head -n 1 | awk '{print $3}')" \
  --change 'EXPOSE 3000' \
  --change 'CMD ["/usr/sbin/haproxy", "-W", "-db", "-f", "/etc/haproxy/haproxy.cfg"]' \
  "$work/rootfs.tar" "$image" >/dev/null
echo "$image"
