import { upgrade } from '../../ops/actions/upgrade.js';
import { parseFlags, targetVersion, type Command } from '../command.js';
import { CliError } from '../io.js';
import { runOperation } from '../operation.js';
import { RUNTIME_HELP, SWITCHING_HELP } from '../runtimes.js';

export const command: Command = {
  help: `Usage: tpctl upgrade --to VERSION [--runtime KIND] [--no-backup] [--rehearse-only | --no-rehearsal] [--bake-seconds S] [--dry-run] [--json]

Upgrades the Tenant Plane (on Docker Compose: the deployment in the current directory) to
VERSION: a pre-upgrade backup, the switch, a health gate and a bake. Any failure after the
switch takes the one way back: the version that ran is put back and confirmed healthy, and both
history lines are recorded. A run killed earlier is led back to a known version first (see
tpctl status). Every command is in ATLAS_LOG_DIR/upgrade-<time>.log.

The steps, each with its undo, and the way back are what this prints, changing nothing (no
lock, no log, no state file; only the checks that read are made):

  tpctl upgrade --to VERSION --dry-run

First it rehearses, on PostgreSQL where the runtime can run a version apart (Compose, the
local runtime): the pre-upgrade backup is restored into a scratch database on the same server
(atlas_rehearsal_<time>: the backup's restore test), VERSION's own migrations run on that copy
(each timed, with the strongest lock it took: one held longer than ATLAS_REHEARSAL_LOCK_MS,
default 1000, is flagged), VERSION starts on the copy apart from production and passes a smoke
journey (health, a sign-in, a read of every resource, an agent check-in, a webhook test
delivery), and the copy is dropped. Whatever it finds refuses the upgrade (exit 2) before
production is touched, naming the migration, the statement and PostgreSQL's error.
--rehearse-only (REHEARSE_ONLY=1) stops after it, to plan a maintenance window;
--no-rehearsal (SKIP_REHEARSAL=1) skips it, and the history line says rehearsal:skipped.

How the switch is made:
${SWITCHING_HELP}
Where the runtime can, the new version starts beside the old one, without traffic; the gate
and the bake check it there, and only then does the traffic move. A candidate that fails is
removed, and the old version never stopped serving.

What the steps read:
  DB_URL              the database of the pre-upgrade backup (db-backup-<current>-<time>.sql.gz
                      in ATLAS_LOG_DIR); --no-backup (SKIP_BACKUP=1) skips it
  HEALTH_URL          where the gate waits for "ok" for VERSION, up to HEALTH_TIMEOUT s (at once
                      if it crashes); then the version file (.atlas-version) of what runs
  ATLAS_VERIFY_*      the recovery checklist's identity (see tpctl verify --help); with it, the
                      run is also reported to the Tenant Plane as it goes (its pages' banner,
                      Settings → Upgrades & backups), and a note says when it could not be
  ATLAS_BAKE_SECONDS  how long the new version is watched against a baseline taken on the old
                      one (--bake-seconds; default 60, 0 skips it): health, authenticated reads,
                      webhooks that delivered before (a test delivery each unless
                      ATLAS_BAKE_WEBHOOK_TEST=0), p95 latency within ATLAS_BAKE_MAX_LATENCY_RATIO
                      (3) times the baseline's (at least 10 ms), and no 5xx where there were
                      none (ATLAS_METRICS_TOKEN or the verification identity reads /metrics)

${RUNTIME_HELP}

Exit code: 0 upgraded, 1 failed and rolled back (or stopped before any change), 2 refused
(bad version, missing image, bad Compose file), 3 failed and needs a human, 4 locked.

Examples:
  tpctl upgrade --to 1.3.0 --rehearse-only
  tpctl upgrade --to 1.3.0
  ATLAS_VERIFY_TOKEN=atp_… tpctl upgrade --to 1.3.0 --bake-seconds 120`,
  async run(args, f) {
    const { values } = parseFlags(args, {
      to: { type: 'string' },
      runtime: { type: 'string' },
      'no-backup': { type: 'boolean' },
      'rehearse-only': { type: 'boolean' },
      'no-rehearsal': { type: 'boolean' },
      'bake-seconds': { type: 'string' },
      'dry-run': { type: 'boolean' },
      json: { type: 'boolean' },
    });
    if (!values.to) throw new CliError('name the version: tpctl upgrade --to 1.3.0');
    const to = targetVersion(values.to, '--to');
    if (values['rehearse-only'] && values['no-rehearsal']) throw new CliError('--rehearse-only and --no-rehearsal contradict each other: give one');
    const rehearsal = values['rehearse-only'] ? 'only' : values['no-rehearsal'] ? 'no' : 'yes';
    return runOperation(f, 'upgrade', values, (ctx) =>
      upgrade({ to, backup: !values['no-backup'], rehearsal, label: `tpctl upgrade --to ${to}`, dryRun: values['dry-run'] }, ctx),
    );
  },
};
