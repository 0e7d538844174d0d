#!/usr/bin/env bash
# Rolls the Tenant Plane of the deployment in the current directory back to the previous
# version (./data/.atlas-previous-version), or to ATLAS_VERSION. See the operator guide.
#
#   bash scripts/rollback-tp.sh
#   ATLAS_VERSION=1.2.2 bash scripts/rollback-tp.sh
#   RESTORE_DB=1 DB_BACKUP_FILE=/var/log/atlas/db-backup-1.2.2-20260326T100000.sql.gz \
#     DB_URL=postgresql://atlasusr:password@localhost:5432/atlas bash scripts/rollback-tp.sh
#   (DB_URL names a PostgreSQL database; without it the backup goes into the embedded database.)
#   KEEP_NEW=1 beside RESTORE_DB=1 carries the rows created since the backup into the restored data.
#
# Settings as for upgrade-tp.sh. All the work is done by tpctl: `tpctl rollback --help`.
set -euo pipefail
here="$(cd -P "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib/no-arguments.sh
source "$here/lib/no-arguments.sh"
no_arguments "${BASH_SOURCE[0]}" 'npx tpctl rollback --dry-run' "$@"
tpctl="$(cd -P "$here/.." && pwd)/dist/cli/tpctl.js"
[ -f "$tpctl" ] || { echo "rollback-tp.sh: $tpctl is missing: build it first (npm ci && npm run build)" >&2; exit 2; }
args=(rollback)
# --to=VALUE, --restore=VALUE: a value that looks like a flag (--help) stays a value, and is refused.
[ -n "${ATLAS_VERSION:-}" ] && args+=("--to=$ATLAS_VERSION")
case "${RESTORE_DB:-}" in
  "" | 0) ;;
  1)
    # The database is DB_URL's, or the embedded one in the data directory without it.
    if [ -z "${DB_BACKUP_FILE:-}" ]; then
      echo "rollback-tp.sh: RESTORE_DB=1 needs DB_BACKUP_FILE, the backup to restore" >&2
      exit 2
    fi
    args+=("--restore=$DB_BACKUP_FILE")
    ;;
  *) echo "rollback-tp.sh: RESTORE_DB must be 1 or unset" >&2; exit 2 ;;
esac
case "${KEEP_NEW:-}" in
  "" | 0) ;;
  1)
    [ "${RESTORE_DB:-}" = 1 ] || { echo "rollback-tp.sh: KEEP_NEW=1 carries rows into a restored database: it needs RESTORE_DB=1" >&2; exit 2; }
    args+=(--keep-new)
    ;;
  *) echo "rollback-tp.sh: KEEP_NEW must be 1 or unset" >&2; exit 2 ;;
esac
# shellcheck source=lib/flag-settings.sh
source "$here/lib/flag-settings.sh"
flag_setting rollback-tp.sh REHEARSE_ONLY --rehearse-only
flag_setting rollback-tp.sh SKIP_REHEARSAL --no-rehearsal
exec node "$tpctl" "${args[@]}"
