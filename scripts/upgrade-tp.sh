#!/usr/bin/env bash
# Upgrades the Tenant Plane of the deployment in the current directory (where docker-compose.yml
# and ./data live): backup, switch, health gate, automatic rollback. See the operator guide.
#
#   ATLAS_VERSION=1.3.0 bash scripts/upgrade-tp.sh
#
# Settings (environment, with defaults): ATLAS_LOG_DIR=/var/log/atlas ATLAS_DATA_DIR=./data
# COMPOSE_FILE=./docker-compose.yml HEALTH_URL=http://localhost:3000/api/health HEALTH_TIMEOUT=60
# DB_URL (for the pre-upgrade backup) SKIP_BACKUP=1 (upgrade without one) REHEARSE_ONLY=1 (rehearse
# on a copy of the data, then stop) SKIP_REHEARSAL=1 (no rehearsal). All the work, and
# the check of ATLAS_VERSION, is done by tpctl: `tpctl upgrade --help`.
set -euo pipefail
here="$(cd -P "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib/no-arguments.sh
source "$here/lib/no-arguments.sh"
no_arguments "${BASH_SOURCE[0]}" 'npx tpctl upgrade --to VERSION --dry-run' "$@"
tpctl="$(cd -P "$here/.." && pwd)/dist/cli/tpctl.js"
[ -f "$tpctl" ] || { echo "upgrade-tp.sh: $tpctl is missing: build it first (npm ci && npm run build)" >&2; exit 2; }
if [ -z "${ATLAS_VERSION:-}" ]; then
  echo "upgrade-tp.sh: set ATLAS_VERSION to the version to upgrade to, e.g. ATLAS_VERSION=1.3.0 bash scripts/upgrade-tp.sh" >&2
  exit 2
fi
# One argument, --to=VALUE: a value that looks like a flag (--help) stays a value, and is refused.
args=(upgrade "--to=$ATLAS_VERSION")
# shellcheck source=lib/flag-settings.sh
source "$here/lib/flag-settings.sh"
flag_setting upgrade-tp.sh SKIP_BACKUP --no-backup
flag_setting upgrade-tp.sh REHEARSE_ONLY --rehearse-only
flag_setting upgrade-tp.sh SKIP_REHEARSAL --no-rehearsal
exec node "$tpctl" "${args[@]}"
