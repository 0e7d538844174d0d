import { signBackup } from '../../ops/backup/verify.js';
import { parseFlags, type Command } from '../command.js';
import { CliError } from '../io.js';

export const command: Command = {
  help: `Usage: tpctl backup sign FILE [--json]

Signs a backup that no key of the keyring signed: one taken before backups were signed, or
on another host whose keyring this one does not hold. Check first that it is the file you
made: signing says it may be restored without --trust-unsigned.

It is verified as tpctl backup verify does (size, SHA-256, gzip stream, and SQL that holds
only what our backups hold), and signed only if every check passes. The key is the first of
the keyring ATLAS_BACKUP_KEY_FILE (default: backup-keys in ATLAS_DATA_DIR, made on first use,
mode 0600); keep a copy of it apart from the backups, never beside them.

Exit code: 0 signed, 1 a check failed (not signed), 2 bad input.

Examples:
  tpctl backup sign /var/log/atlas/db-backup-1.2.2-20260326T100000.sql.gz`,
  async run(args, f) {
    const { io } = f;
    const { values, positionals } = parseFlags(args, { json: { type: 'boolean' } }, 1);
    const file = positionals[0];
    if (!file) throw new CliError('name the backup to sign, e.g. tpctl backup sign /var/log/atlas/db-backup-1.2.2-20260326T100000.sql.gz');
    const result = await signBackup(file, f.database, f.executor());
    const failed = result.checks.filter((c) => !c.ok && c.name !== 'signature');
    io.out(
      values.json
        ? JSON.stringify(result, null, 2)
        : result.ok
          ? `${file}: checked, and signed with key ${result.signedBy} of ${f.backupKeys().keyFile}`
          : [`${file}: NOT signed, a check failed:`, ...failed.map((c) => `  FAIL ${c.name}: ${c.detail}`)].join('\n'),
    );
    return result.ok ? 'done' : 'failed';
  },
};
