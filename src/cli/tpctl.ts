#!/usr/bin/env node
import { EXIT_CODES, kindOfError, type Command } from './command.js';
import { CliError, type Io } from './io.js';
import { Factory } from './factory.js';
import { problem } from './words.js';

/** The commands and their summaries; each is the `command` of commands/<its words joined by '-'>.ts. */
const COMMANDS: { name: string; summary: string }[] = [
  { name: 'upgrade', summary: 'upgrade to a version: backup, switch, health gate, automatic rollback' },
  { name: 'rollback', summary: 'roll back to the previous version (or --to VERSION), optionally restoring a backup' },
  { name: 'status', summary: 'what runs, whether it is healthy, and any operation under way or interrupted' },
  { name: 'verify', summary: 'the recovery checklist: health, version, a login, the agents back' },
  { name: 'history', summary: 'the upgrade and rollback history (--json adds durations, backups, health evidence)' },
  { name: 'support-bundle', summary: "one archive for support: versions, run logs, health, the platform's logs, status" },
  { name: 'revisions', summary: 'the revisions Kubernetes or Helm keeps, with the version each runs' },
  { name: 'config show', summary: "the deployment's settings, each with where it comes from (deployment.json, environment, default)" },
  { name: 'release add', summary: 'add a release (directory or .tar.gz) to the local runtime' },
  { name: 'release describe', summary: "this release's metadata (migrations and verdicts, upgrade path), as the build ships it" },
  { name: 'local start', summary: 'start the local runtime in the background and wait until it is healthy' },
  { name: 'local stop', summary: 'stop the local runtime' },
  { name: 'local run', summary: 'run the local runtime supervisor in the foreground (for systemd and the like)' },
  { name: 'backup create', summary: 'take a verified database backup (db-backup-<version>-<time>.sql.gz)' },
  { name: 'backup list', summary: 'the backups in ATLAS_LOG_DIR, newest first' },
  { name: 'backup verify', summary: 'check a backup against its manifest (and with --restore-test, by restoring it)' },
  { name: 'backup drill', summary: 'prove a backup restores: into a scratch database, its version started on it, the smoke journey' },
  { name: 'backup sign', summary: 'sign a backup taken before signing or elsewhere, once it passes every other check' },
  { name: 'backup rotate-key', summary: 'a new backup signing key; the older ones stay to check older backups' },
  { name: 'restore', summary: 'restore a backup into the database, all or nothing (--undo puts the data back)' },
  { name: 'migrate lint', summary: 'check that migrations are purely additive (the previous version keeps working)' },
  { name: 'migrate status', summary: 'applied, pending and unknown (ahead) migrations, and whether this version can run' },
  { name: 'migrate up', summary: 'apply pending migrations (the server also does this at start)' },
  { name: 'user create', summary: 'create a user (e.g. the first admin) directly in the database' },
];

/** Loaded on use: a rollback at 2 a.m. does not wait for the backup code to load. */
const load = async (name: string): Promise<Command> => ((await import(`./commands/${name.replace(' ', '-')}.js`)) as { command: Command }).command;

const table = (commands: typeof COMMANDS): string => {
  const width = Math.max(...commands.map((c) => c.name.length));
  return commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n');
};

function overview(): string {
  return `tpctl: upgrade, roll back, back up and recover the AtlasAI Tenant Plane

Usage: tpctl <command> [options]     tpctl <command> --help for details

Commands:
${table(COMMANDS)}

Environment: DB_URL (PostgreSQL; unset: the embedded database in ATLAS_DATA_DIR, default ./data).
Exit codes: 0 done, 1 failed (nothing changed, or rolled back), 2 bad input or refused,
3 failed and needs a human, 4 another operation holds the lock.
`;
}

/** The commands a first word groups (`tpctl backup`), or undefined when it groups none. */
function group(word: string | undefined): string | undefined {
  const members = COMMANDS.filter((c) => c.name.startsWith(`${word} `));
  if (members.length === 0) return undefined;
  return `Usage: tpctl ${word} <command> [options]     tpctl ${word} <command> --help for details

Commands:
${table(members)}
`;
}

/** Finds the command named by the leading words of argv (`migrate status` before `migrate`). */
function resolve(argv: string[]): { entry: (typeof COMMANDS)[number]; args: string[] } | undefined {
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
    const listing = group(argv[0]);
    const helpAsked = argv[1] === '--help' || argv[1] === '-h';
    if (listing && (argv.length === 1 || (argv.length === 2 && helpAsked))) {
      io.out(listing);
      return helpAsked ? EXIT_CODES.done : EXIT_CODES.refused;
    }
    io.err(`tpctl: unknown command "${argv.slice(0, 2).join(' ')}"; see tpctl ${listing ? `${argv[0]} ` : ''}--help`);
    return EXIT_CODES.refused;
  }
  const command = await load(found.entry.name);
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
