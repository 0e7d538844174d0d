import path from 'node:path';
import { createBackup, mb } from '../../ops/backup/create.js';
import { listBackups } from '../../ops/backup/retention.js';
import { verifyBackup } from '../../ops/backup/verify.js';
import { Executor } from '../../ops/core/exec.js';
import { CliError, parseFlags, type Command, type Io } from '../command.js';
import { databaseTarget, secretsOf } from '../database.js';
import { progressLine } from '../progress.js';

/** ATLAS_LOG_DIR as an absolute path: it is written into history lines and manifests that outlive the shell. */
export function logDirOf(io: Io): string {
  return path.resolve(io.env.ATLAS_LOG_DIR || '/var/log/atlas');
}

export function backupKeep(io: Io): number {
  const raw = io.env.ATLAS_BACKUP_KEEP;
  if (raw === undefined || raw === '') return 10;
  const keep = Number(raw);
  if (!Number.isInteger(keep) || keep < 1 || keep > 10_000) throw new CliError(`ATLAS_BACKUP_KEEP=${raw.slice(0, 20)} is not valid: expected a whole number of backups, at least 1`);
  return keep;
}

const rows = (tables: Record<string, number>) => Object.values(tables).reduce((a, b) => a + b, 0);

export const backupCreate: Command = {
  help: `Usage: tpctl backup create [--json]

Dumps the database (DB_URL, or the embedded database in ATLAS_DATA_DIR; the embedded one
only while the Tenant Plane is stopped) to ATLAS_LOG_DIR (default /var/log/atlas):

  db-backup-<version>-<UTC yyyymmddThhmmss>.sql.gz       plain SQL, gzip, mode 0600
  db-backup-<version>-<UTC yyyymmddThhmmss>.sql.gz.manifest.json

The file is compressed on all cores, appears under its final name only when complete and
synced, and is read back and checked before it counts. <version> is the Tenant Plane
version that last started on the database. Restore it with \`tpctl restore FILE\`, or by
hand with \`zcat FILE | psql DB_URL\` (which also works over a database upgraded since).

ATLAS_BACKUP_KEEP (default 10): older backups are removed once this one is verified; the
newest verified backup is never removed. Needs pg_dump no older than the server.`,
  async run(args, io) {
    const { values } = parseFlags(args, { json: { type: 'boolean' } });
    const keep = backupKeep(io);
    const progress = progressLine(io.isTTY && !values.json, io.err);
    const result = await createBackup({ ...databaseTarget(io), logDir: logDirOf(io), reason: 'manual', keep, onProgress: progress.update }, new Executor(undefined, secretsOf(io))).finally(
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
    return 'done';
  },
};

export const backupList: Command = {
  help: `Usage: tpctl backup list [--json]

Lists db-backup-*.sql.gz in ATLAS_LOG_DIR (default /var/log/atlas), newest first: version,
time (UTC), size, why it was taken, and when it was last verified.`,
  async run(args, io) {
    const { values } = parseFlags(args, { json: { type: 'boolean' } });
    const backups = listBackups(logDirOf(io));
    if (values.json) {
      io.out(JSON.stringify(backups.map((b) => ({ ...b, verified: Boolean(b.manifest?.verifiedAt) })), null, 2));
      return 'done';
    }
    if (!backups.length) {
      io.out(`no backups in ${logDirOf(io)}`);
      return 'done';
    }
    const table = [['VERSION', 'TAKEN (UTC)', 'SIZE', 'REASON', 'VERIFIED', 'FILE']];
    for (const b of backups) {
      const taken = b.timestamp.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)$/, '$1-$2-$3 $4:$5:$6');
      const verified = b.manifest ? (b.manifest.verifiedAt ? `yes ${b.manifest.verifiedAt.slice(0, 19).replace('T', ' ')}` : 'no') : `no (${b.problem ?? 'no manifest'})`;
      table.push([b.version, taken, mb(b.sizeBytes), b.manifest?.reason ?? '?', verified, path.basename(b.file)]);
    }
    const widths = table[0]!.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
    io.out(table.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n'));
    return 'done';
  },
};

export const backupVerify: Command = {
  help: `Usage: tpctl backup verify FILE [--restore-test] [--json]

Checks the backup against its manifest: present, same size, same SHA-256, and a gzip
stream that inflates whole to the recorded size. With --restore-test, also restores it into
a scratch database on the same server (DB_URL; the user needs CREATEDB) or into a scratch
embedded database, compares every table's row count with the manifest, and drops it.

Exit code: 0 when every check passes, 1 when one fails.`,
  async run(args, io) {
    const { values, positionals } = parseFlags(args, { 'restore-test': { type: 'boolean' }, json: { type: 'boolean' } }, 1);
    const file = positionals[0];
    if (!file) throw new CliError('name the backup file to verify, e.g. tpctl backup verify /var/log/atlas/db-backup-1.2.2-20260326T100000.sql.gz');
    const progress = progressLine(io.isTTY && !values.json, io.err);
    const result = await verifyBackup(file, { restoreTest: values['restore-test'] ? databaseTarget(io) : undefined, exec: new Executor(undefined, secretsOf(io)), onProgress: progress.update }).finally(
      progress.done,
    );
    io.out(
      values.json
        ? JSON.stringify(result, null, 2)
        : [`${file}: ${result.ok ? 'verified' : 'FAILED verification'}`, ...result.checks.map((c) => `  ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`)].join('\n'),
    );
    return result.ok ? 'done' : 'failed';
  },
};
