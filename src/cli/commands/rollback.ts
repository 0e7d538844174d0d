import path from 'node:path';
import { rollback } from '../../ops/actions/rollback.js';
import { printable } from '../../shared/version.js';
import { parseFlags, targetVersion, type Command } from '../command.js';
import { CliError } from '../io.js';
import { runOperation } from '../operation.js';
import { REVISIONS_HELP, RUNTIME_HELP } from '../runtimes.js';

/** A revision number from the command line. */
function revisionNumber(text: string): number {
  if (!/^[1-9][0-9]{0,8}$/.test(text)) throw new CliError(`--to-revision ${printable(text, 20)} is not a revision number (see tpctl revisions)`);
  return Number(text);
}

export const command: Command = {
  help: `Usage: tpctl rollback [--to VERSION | --to-revision N] [--runtime KIND] [--restore BACKUP_FILE [--keep-new] [--trust-unsigned]] [--rehearse-only | --no-rehearsal] [--dry-run] [--json]

Switches the Tenant Plane back to VERSION, by default the one in ./data/.atlas-previous-version
(or, without it, the one the history's last upgrade came from); checks the image is here (or
pulls it); restarts; waits until HEALTH_URL answers "ok" for it; records a ROLLBACK line.
The database schema is not reversed: migrations are additive and the previous version runs on it.

On runtimes that keep numbered revisions the switch goes back to the newest earlier revision
that ran VERSION (${REVISIONS_HELP}); --to-revision N names the revision itself (tpctl
revisions lists them with their versions).

With --restore, the Tenant Plane is stopped and the backup
restored (all or nothing; see tpctl restore --help) before the switch: the database of DB_URL,
or without it the embedded one (local runtime). The
output lists, per table, the rows created, changed and deleted since the backup: what the
restore discards. --keep-new (KEEP_NEW=1) carries the rows created since into the restored
data, within the same swap (see tpctl restore --help). The backup must be signed by a key of
the keyring; --trust-unsigned (ATLAS_TRUST_UNSIGNED=1) accepts one that is not, and says so.

First it rehearses, on PostgreSQL where the runtime can run a version apart (Compose, the
local runtime): VERSION starts on a copy of today's data (with --restore, on the backup
restored), in a scratch database on the same server, apart from production, and must pass the
smoke journey (health, a sign-in, a read of every resource, an agent check-in, a webhook test
delivery): an older version that refuses the newer schema, or breaks on new data, is found
there, and the rollback is refused (exit 2) with production untouched. --rehearse-only
(REHEARSE_ONLY=1) stops after it; --no-rehearsal (SKIP_REHEARSAL=1) skips it, and the history
line says rehearsal:skipped.

If VERSION does not become healthy, the way back puts back what ran before (and, after a
restore, the data the restore replaced) and confirms it is healthy. Without --to, a run killed
earlier (see tpctl status) is led back to a known version, and that is all.

--dry-run prints the plan (each step, its undo, the way back) and changes nothing: the steps
of a rollback are what it prints.

${RUNTIME_HELP}

Exit code: 0 rolled back, 1 failed (the version before was put back), 2 refused, 3 needs a
human, 4 locked.

Examples:
  tpctl rollback --dry-run
  tpctl rollback --to 1.2.2
  tpctl rollback --to 1.2.2 --restore /var/log/atlas/db-backup-1.2.2-20260326T100000.sql.gz`,
  async run(args, f) {
    const { values } = parseFlags(args, {
      to: { type: 'string' },
      'to-revision': { type: 'string' },
      runtime: { type: 'string' },
      restore: { type: 'string' },
      'keep-new': { type: 'boolean' },
      'rehearse-only': { type: 'boolean' },
      'no-rehearsal': { type: 'boolean' },
      'trust-unsigned': { type: 'boolean' },
      'dry-run': { type: 'boolean' },
      json: { type: 'boolean' },
    });
    if (values.to !== undefined && values['to-revision'] !== undefined) throw new CliError('--to and --to-revision name the target twice: give one');
    const to = values.to === undefined ? undefined : targetVersion(values.to, '--to');
    const revision = values['to-revision'] === undefined ? undefined : revisionNumber(values['to-revision']);
    if (values['keep-new'] && values.restore === undefined)
      throw new CliError('--keep-new carries rows into a restored database: it needs --restore BACKUP_FILE');
    if (values['trust-unsigned'] && values.restore === undefined)
      throw new CliError('--trust-unsigned is about the backup to restore: it needs --restore BACKUP_FILE');
    if (values['rehearse-only'] && values['no-rehearsal']) throw new CliError('--rehearse-only and --no-rehearsal contradict each other: give one');
    const rehearsal = values['rehearse-only'] ? 'only' : values['no-rehearsal'] ? 'no' : 'yes';
    const label = `tpctl rollback${to ? ` --to ${to}` : ''}${revision ? ` --to-revision ${revision}` : ''}`;
    return runOperation(f, 'rollback', values, (ctx) =>
      // Absolute: the history line and the run record outlive the shell's directory.
      rollback(
        {
          to,
          revision,
          restore: values.restore === undefined ? undefined : path.resolve(values.restore),
          keepNew: values['keep-new'],
          rehearsal,
          label,
          dryRun: values['dry-run'],
        },
        ctx,
      ),
    );
  },
};
