#!/usr/bin/env bash
# Stages a release of this checkout: the built app, its production dependencies, the version
# file and release.json (the repository's release.json completed by `tpctl release describe`:
# the migrations with their lint verdicts, the upgrade path), as the image and the local runtime
# run it. Refused (exit 2) when a migration does not pass `tpctl migrate lint`.
#
#   ATLAS_VERSION=1.3.0 bash scripts/build-release.sh [OUT_DIR]     (default: build/releases/1.3.0)
#
# Needs the dev dependencies installed (npm ci) to build; the production ones come from the npm
# cache when they are there.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="${ATLAS_VERSION:?set ATLAS_VERSION, e.g. ATLAS_VERSION=1.3.0 bash scripts/build-release.sh}"
if ! [[ "$version" =~ ^(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})(-[0-9A-Za-z]+(\.[0-9A-Za-z]+)*)?$ ]]; then
  echo "build-release.sh: ATLAS_VERSION=\"$version\" is not a release version (MAJOR.MINOR.PATCH, e.g. 1.3.0)" >&2
  exit 2
fi
out="${1:-$root/build/releases/$version}"

(cd "$root" && npm run --silent build)
rm -rf "$out"
mkdir -p "$out"
cp -R "$root/dist" "$root/migrations" "$root/package.json" "$root/package-lock.json" "$out/"
printf '%s\n' "$version" > "$out/.atlas-version"
(cd "$out" && npm ci --omit=dev --ignore-scripts --prefer-offline --no-audit --no-fund --loglevel=error >/dev/null)
node "$out/dist/cli/tpctl.js" release describe --declared "$root/release.json" > "$out/release.json.partial"
mv "$out/release.json.partial" "$out/release.json"
echo "$out"
