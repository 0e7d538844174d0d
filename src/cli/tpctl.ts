#!/usr/bin/env node
import { CliError, EXIT, type Command, type Io } from './command.js';
import { backupCreate, backupList, backupVerify } from './commands/backup.js';
import { historyCommand, rollbackCommand, statusCommand, upgradeCommand } from './commands/lifecycle.js';
import { localRun, localStart, localStop, releaseAdd } from './commands/local.js';
import { migrateLint, migrateStatus, migrateUp } from './commands/migrate.js';
import { restore } from './commands/restore.js';
import { userCreate } from './commands/user.js';

const COMMANDS: Command[] = [upgradeCommand, rollbackCommand, statusCommand, historyCommand, releaseAdd, localStart, localStop, localRun, backupCreate, backupList, backupVerify, restore, migrateLint, migrateStatus, migrateUp, userCreate];

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
function resolve(argv: string[]): { command: Command; args: string[] } | undefined {
  for (let words = 2; words >= 1; words--) {
    const name = argv.slice(0, words).join(' ');
    const command = COMMANDS.find((c) => c.name === name);
    if (command) return { command, args: argv.slice(words) };
  }
  return undefined;
}

export async function main(argv: string[], io: Io): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    io.out(overview());
    return argv.length === 0 ? EXIT.refused : EXIT.ok;
  }
  const found = resolve(argv);
  if (!found) {
    io.err(`tpctl: unknown command "${argv.slice(0, 2).join(' ')}"; see tpctl --help`);
    return EXIT.refused;
  }
  if (found.args.includes('--help') || found.args.includes('-h')) {
    io.out(found.command.help);
    return EXIT.ok;
  }
  try {
    return await found.command.run(found.args, io);
  } catch (err) {
    if (!(err instanceof CliError)) throw err;
    io.err(`tpctl ${found.command.name}: ${err.message}`);
    return err.exitCode;
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
