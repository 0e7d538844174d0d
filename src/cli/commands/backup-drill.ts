import { writeFileAtomic } from '../../shared/files.js';
import { databaseWork } from '../../ops/backup/database-work.js';
import { drill } from '../../ops/actions/drill.js';
import { RunLogFile } from '../../ops/engine/state/run-log.js';
import { recordPath } from '../../ops/engine/state/run-record.js';
import { parseFlags, type Command } from '../command.js';
import { CliError } from '../io.js';
import { lockedWords } from '../words.js';

export const command: Command = {
  help: `Usage: tpctl backup drill [FILE] [--runtime KIND] [--json]

Proves that a backup restores, the way a rehearsal proves the pre-upgrade one: FILE (by
default the newest backup in ATLAS_LOG_DIR) is checked and restored into a scratch database
on the same server (atlas_drill_<time>; DB_URL's user needs CREATEDB), every table's row count
compared with the manifest; the version the backup was taken from starts on that copy apart
from production (Compose with network_mode: host, the local runtime) and must pass the smoke
journey (health, a sign-in as ATLAS_VERIFY_*, a read of every resource, an agent check-in, a
webhook test delivery); then the copy is dropped. Production is only read, and told which
backup was proven to restore (GET /metrics: atlas_backup_last_proven_restore_timestamp_seconds
and atlas_backup_proven_age_seconds). It takes the operation lock: never beside an upgrade.
Its log is ATLAS_LOG_DIR/drill-<time>.log, its result drill-<time>.json beside it. Run it on a
schedule (docs/operations/rehearsals.md: a systemd timer, a Kubernetes CronJob).

Exit code: 0 proven, 1 the backup did not restore or the journey failed, 2 refused (no backup,
the embedded database, the version not here), 4 another operation holds the lock.

Examples:
  tpctl backup drill
  tpctl backup drill /var/log/atlas/db-backup-1.2.2-20260326T100000.sql.gz`,
  async run(args, f) {
    const { io } = f;
    const { values, positionals } = parseFlags(args, { runtime: { type: 'string' }, json: { type: 'boolean' } }, 1);
    if (!io.env.DB_URL) throw new CliError("a drill restores into a scratch database on the live one's server: set DB_URL to its PostgreSQL");
    const kind = f.runtimeKind(values.runtime);
    const log = RunLogFile.forRun(f.logDir, 'drill', new Date(), f.secrets, values.json ? undefined : (line) => io.err(line));
    const exec = f.executor(log);
    const outcome = await drill(
      {
        dataDir: f.dataDir,
        runtime: await f.runtime(kind, exec),
        database: databaseWork(f.database, { logDir: f.logDir, keep: f.backupKeep, room: f.copyRoom }, exec),
        tenantPlane: f.tenantPlane,
        healthTimeoutMs: f.healthTimeoutMs,
        log,
      },
      positionals[0],
      `tpctl backup drill${positionals[0] ? ` ${positionals[0]}` : ''}`,
    );
    if ('locked' in outcome) throw new CliError(lockedWords(outcome.locked), 'locked');
    writeFileAtomic(recordPath(log.file), `${JSON.stringify({ ...outcome, log: log.file }, null, 2)}\n`, 0o640);
    io.out(values.json ? JSON.stringify({ ...outcome, log: log.file }, null, 2) : `${outcome.line}. Log: ${log.file}`);
    return outcome.ok ? 'done' : 'failed';
  },
};
