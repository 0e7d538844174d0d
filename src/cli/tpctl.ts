#!/usr/bin/env node
import { EXIT_CODES, kindOfError, type Command } from './command.js';
import { CliError, type Io } from './io.js';
import { Factory } from './factory.js';
import { problem } from './words.js';

interface Entry {
  name: string;
  summary: string;
  /** Loaded on use: a rollback at 2 a.m. does not wait for the backup code to load. */
  load: () => Promise<Command>;
}

const COMMANDS: Entry[] = [
  {
    name: 'upgrade',
    summary: 'upgrade to a version: backup, switch, health gate, automatic rollback',
    load: async () => (await import('./commands/upgrade.js')).command,
  },
  {
    name: 'rollback',
    summary: 'roll back to the previous version (or --to VERSION), optionally restoring a backup',
    load: async () => (await import('./commands/rollback.js')).command,
  },
  {
    name: 'status',
    summary: 'what runs, whether it is healthy, and any operation under way or interrupted',
    load: async () => (await import('./commands/status.js')).command,
  },
  {
    name: 'verify',
    summary: 'the recovery checklist: health, version, a login, the agents back',
    load: async () => (await import('./commands/verify.js')).command,
  },
  {
    name: 'history',
    summary: 'the upgrade and rollback history (--json adds durations, backups, health evidence)',
    load: async () => (await import('./commands/history.js')).command,
  },
  {
    name: 'support-bundle',
    summary: "one archive for support: versions, run logs, health, the platform's logs, status",
    load: async () => (await import('./commands/support-bundle.js')).command,
  },
  {
    name: 'revisions',
    summary: 'the revisions Kubernetes or Helm keeps, with the version each runs',
    load: async () => (await import('./commands/revisions.js')).command,
  },
  {
    name: 'release add',
    summary: 'add a release (directory or .tar.gz) to the local runtime',
    load: async () => (await import('./commands/release-add.js')).command,
  },
  {
    name: 'release describe',
    summary: "this release's metadata (migrations and verdicts, upgrade path), as the build ships it",
    load: async () => (await import('./commands/release-describe.js')).command,
  },
  {
    name: 'local start',
    summary: 'start the local runtime in the background and wait until it is healthy',
    load: async () => (await import('./commands/local-start.js')).command,
  },
  { name: 'local stop', summary: 'stop the local runtime', load: async () => (await import('./commands/local-stop.js')).command },
  {
    name: 'local run',
    summary: 'run the local runtime supervisor in the foreground (for systemd and the like)',
    load: async () => (await import('./commands/local-run.js')).command,
  },
  {
    name: 'backup create',
    summary: 'take a verified database backup (db-backup-<version>-<time>.sql.gz)',
    load: async () => (await import('./commands/backup-create.js')).command,
  },
  { name: 'backup list', summary: 'the backups in ATLAS_LOG_DIR, newest first', load: async () => (await import('./commands/backup-list.js')).command },
  {
    name: 'backup verify',
    summary: 'check a backup against its manifest (and with --restore-test, by restoring it)',
    load: async () => (await import('./commands/backup-verify.js')).command,
  },
  {
    name: 'restore',
    summary: 'restore a backup into the database, all or nothing (--undo puts the data back)',
    load: async () => (await import('./commands/restore.js')).command,
  },
  {
    name: 'migrate lint',
    summary: 'check that migrations are purely additive (the previous version keeps working)',
    load: async () => (await import('./commands/migrate-lint.js')).command,
  },
  {
    name: 'migrate status',
    summary: 'applied, pending and unknown (ahead) migrations, and whether this version can run',
    load: async () => (await import('./commands/migrate-status.js')).command,
  },
  {
    name: 'migrate up',
    summary: 'apply pending migrations (the server also does this at start)',
    load: async () => (await import('./commands/migrate-up.js')).command,
  },
  {
    name: 'user create',
    summary: 'create a user (e.g. the first admin) directly in the database',
    load: async () => (await import('./commands/user-create.js')).command,
  },
];

function overview(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return `tpctl: upgrade, roll back, back up and recover the AtlasAI Tenant Plane

Usage: tpctl <command> [options]     tpctl <command> --help for details

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

Environment: DB_URL (PostgreSQL; unset: the embedded database in ATLAS_DATA_DIR, default ./data).
Exit codes: 0 done, 1 failed (nothing changed, or rolled back), 2 bad input or refused,
3 failed and needs a human, 4 another operation holds the lock.
`;
}

/** Finds the command named by the leading words of argv (`migrate status` before `migrate`). */
function resolve(argv: string[]): { entry: Entry; args: string[] } | undefined {
  for (let words = 2; words >= 1; words--) {
    const name = argv.slice(0, words).join(' ');
    const entry = COMMANDS.find((c) => c.name === name);
    if (entry) return { entry, args: argv.slice(words) };
  }
  return undefined;
}

export async function main(argv: string[], io: Io): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    io.out(overview());
    return argv.length === 0 ? EXIT_CODES.refused : EXIT_CODES.done;
  }
  const found = resolve(argv);
  if (!found) {
    io.err(`tpctl: unknown command "${argv.slice(0, 2).join(' ')}"; see tpctl --help`);
    return EXIT_CODES.refused;
  }
  const command = await found.entry.load();
  if (found.args.includes('--help') || found.args.includes('-h')) {
    io.out(command.help);
    return EXIT_CODES.done;
  }
  try {
    return EXIT_CODES[await command.run(found.args, new Factory(io))];
  } catch (err) {
    const kind = err instanceof CliError ? err.kind : kindOfError(err);
    if (!kind) throw err;
    io.err(`tpctl ${found.entry.name}: ${problem(err as Error)}`);
    return EXIT_CODES[kind];
  }
}

const io: Io = {
  out: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
  err: (text) => process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
  env: process.env,
  stdin: process.stdin,
  isTTY: Boolean(process.stderr.isTTY),
};
process.exitCode = await main(process.argv.slice(2), io);
