import path from 'node:path';
import { createBackup, mb } from '../../ops/backup/create.js';
import { parseFlags, type Command } from '../command.js';
import { progressLine } from '../progress.js';
import { tellBackups } from '../report.js';

const rows = (tables: Record<string, number>) => Object.values(tables).reduce((a, b) => a + b, 0);

export const command: Command = {
  help: `Usage: tpctl backup create [--json]

Dumps the database (DB_URL, or the embedded database in ATLAS_DATA_DIR; the embedded one
only while the Tenant Plane is stopped) to ATLAS_LOG_DIR (default /var/log/atlas):

  db-backup-<version>-<UTC yyyymmddThhmmss>.sql.gz       plain SQL, gzip, mode 0600
  db-backup-<version>-<UTC yyyymmddThhmmss>.sql.gz.manifest.json

The file is compressed on all cores and appears under its final name only when complete and
synced (\`tpctl backup verify FILE\` reads it back whole). <version> is the Tenant Plane
version that last started on the database. Restore it with \`tpctl restore FILE\`, or by
hand with \`zcat FILE | psql DB_URL\` (which also works over a database upgraded since).

ATLAS_BACKUP_KEEP (default 10): older backups are removed once this one is verified; the
newest verified backup is never removed. Needs pg_dump no older than the server.

With a verification identity (ATLAS_VERIFY_TOKEN, an admin's), the Tenant Plane at HEALTH_URL
is told which backups are kept (Settings → Upgrades & backups); a note says when it could not be.

Examples:
  tpctl backup create
  DB_URL=postgresql://atlas@db.internal/atlas tpctl backup create --json`,
  async run(args, f) {
    const { io } = f;
    const { values } = parseFlags(args, { json: { type: 'boolean' } });
    const keep = f.backupKeep;
    const progress = progressLine(io.isTTY && !values.json, io.err);
    const result = await createBackup({ ...f.database, logDir: f.logDir, reason: 'manual', keep, onProgress: progress.update }, f.executor()).finally(
      progress.done,
    );
    const m = result.manifest;
    io.out(
      values.json
        ? JSON.stringify(result, null, 2)
        : [
            `backup: ${result.file}`,
            `  ${mb(m.sizeBytes)} (${mb(m.uncompressedBytes)} of SQL), ${Object.keys(m.tables).length} tables, ${rows(m.tables)} rows, version ${m.appVersion}, in ${(m.durationMs / 1000).toFixed(1)} s; verified`,
            `manifest: ${path.basename(result.file)}.manifest.json`,
            ...result.removed.map((f) => `removed (ATLAS_BACKUP_KEEP=${keep}): ${f}`),
          ].join('\n'),
    );
    if (f.tenantPlane.checklist) {
      const why = await tellBackups((p, body) => f.tenantPlane.tell(p, body), f.logDir);
      if (why) io.err(`note: the Tenant Plane was not told of this backup (${why}); tpctl tells it with its next run`);
    }
    return 'done';
  },
};
