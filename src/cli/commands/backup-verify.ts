import { verifyBackup } from '../../ops/backup/verify.js';
import { parseFlags, type Command } from '../command.js';
import { CliError } from '../io.js';
import { progressLine } from '../progress.js';

export const command: Command = {
  help: `Usage: tpctl backup verify FILE [--restore-test] [--trust-unsigned] [--json]

Checks the backup against its manifest: present, signed by a key of the keyring
(ATLAS_BACKUP_KEY_FILE), same size, same SHA-256, a gzip stream that inflates whole to the
recorded size, and SQL that holds only what our backups hold (no psql command, role,
COPY ... PROGRAM or function that no migration defines). With --restore-test, also restores
the bytes it checked into a scratch database on the same server (DB_URL; the user needs
CREATEDB) or into a scratch embedded database, compares every table's row count with the
manifest, and drops it. --trust-unsigned (ATLAS_TRUST_UNSIGNED=1) accepts an unsigned backup.

Exit code: 0 when every check passes, 1 when one fails.

Examples:
  tpctl backup verify /var/log/atlas/db-backup-1.2.2-20260326T100000.sql.gz
  tpctl backup verify /var/log/atlas/db-backup-1.2.2-20260326T100000.sql.gz --restore-test`,
  async run(args, f) {
    const { io } = f;
    const { values, positionals } = parseFlags(
      args,
      { 'restore-test': { type: 'boolean' }, 'trust-unsigned': { type: 'boolean' }, json: { type: 'boolean' } },
      1,
    );
    const file = positionals[0];
    if (!file) throw new CliError('name the backup file to verify, e.g. tpctl backup verify /var/log/atlas/db-backup-1.2.2-20260326T100000.sql.gz');
    const progress = progressLine(io.isTTY && !values.json, io.err);
    const result = await verifyBackup(file, f.databaseTrusting(values['trust-unsigned']), {
      restoreTest: values['restore-test'],
      exec: f.executor(),
      onProgress: progress.update,
    }).finally(progress.done);
    io.out(
      values.json
        ? JSON.stringify(result, null, 2)
        : [
            `${file}: ${result.ok ? 'verified' : 'FAILED verification'}`,
            ...result.checks.map((c) => `  ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`),
          ].join('\n'),
    );
    return result.ok ? 'done' : 'failed';
  },
};
