import path from 'node:path';
import { mb } from '../../ops/backup/create.js';
import { listBackups } from '../../ops/backup/retention.js';
import { parseFlags, type Command } from '../command.js';

export const command: Command = {
  help: `Usage: tpctl backup list [--json]

Lists db-backup-*.sql.gz in ATLAS_LOG_DIR (default /var/log/atlas), newest first: version,
time (UTC), size, why it was taken, and when it was last verified.

Examples:
  tpctl backup list
  ATLAS_LOG_DIR=/var/log/atlas tpctl backup list --json`,
  async run(args, f) {
    const { io } = f;
    const { values } = parseFlags(args, { json: { type: 'boolean' } });
    const backups = listBackups(f.logDir);
    if (values.json) {
      io.out(
        JSON.stringify(
          backups.map((b) => ({ ...b, verified: Boolean(b.manifest?.verifiedAt) })),
          null,
          2,
        ),
      );
      return 'done';
    }
    if (!backups.length) {
      io.out(`no backups in ${f.logDir}`);
      return 'done';
    }
    const table = [['VERSION', 'TAKEN (UTC)', 'SIZE', 'REASON', 'VERIFIED', 'FILE']];
    for (const b of backups) {
      const taken = b.timestamp.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)$/, '$1-$2-$3 $4:$5:$6');
      const verified = b.manifest
        ? b.manifest.verifiedAt
          ? `yes ${b.manifest.verifiedAt.slice(0, 19).replace('T', ' ')}`
          : 'no'
        : `no (${b.problem ?? 'no manifest'})`;
      table.push([b.version, taken, mb(b.sizeBytes), b.manifest?.reason ?? '?', verified, path.basename(b.file)]);
    }
    const widths = table[0]!.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
    io.out(table.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n'));
    return 'done';
  },
};
