import { randomBytes } from 'node:crypto';
import { splitPassword } from '../../shared/redact.js';
import { SET_ASIDE_SCHEMA_PATTERN } from '../../shared/names.js';
import { CommandError, type Command, type Executor } from '../core/exec.js';
import { Failed } from '../core/errors.js';

/**
 * The PostgreSQL client tools (pg_dump, psql) as commands. The password never goes on the
 * command line, where any user could read it in the process list: it travels as PGPASSWORD.
 */
export interface Connection {
  /** The URL without its password: safe for argv and logs. */
  url: string;
  env: Record<string, string>;
}

export function connection(url: string): Connection {
  const { password, rest } = splitPassword(new URL(url));
  return { url: rest.toString(), env: password ? { PGPASSWORD: password } : {} };
}

export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(database)}`;
  return parsed.toString();
}

export function pgDumpCommand(url: string): Command {
  const c = connection(url);
  // --no-owner/--no-privileges: the backup restores under whichever user runs the restore.
  // The copies a restore set aside are not part of the data.
  return {
    argv: ['pg_dump', '--format=plain', '--no-owner', '--no-privileges', `--exclude-schema=${SET_ASIDE_SCHEMA_PATTERN}`, '--dbname', c.url],
    env: c.env,
  };
}

/** A psql session that stops at the first error and prints bare results (see PsqlSession). */
export function psqlSessionCommand(url: string, maintenanceWorkMem: string): Command {
  const c = connection(url);
  return {
    argv: ['psql', '--no-psqlrc', '--tuples-only', '--no-align', '--set', 'ON_ERROR_STOP=1', '--dbname', c.url],
    // Bigger sort memory makes the index builds faster. A restore loads into a schema that
    // counts only once the swap commits, and that commit flushes every earlier one: the load's
    // own commits need not wait for the disk.
    env: { ...c.env, PGOPTIONS: `-c maintenance_work_mem=${maintenanceWorkMem} -c synchronous_commit=off -c client_min_messages=warning` },
  };
}

/** The first minor release of each major that knows `\restrict` (CVE-2025-8714); 18 and later all do. */
const RESTRICT_SINCE: Record<number, number> = { 13: 22, 14: 19, 15: 14, 16: 10, 17: 6 };

/**
 * The line that puts a psql session in restricted mode (no meta-command runs after it), when
 * this psql (its --version text) knows it; undefined when it does not.
 */
export function psqlRestrictLine(version: string): string | undefined {
  const m = /\(PostgreSQL\) (\d+)\.(\d+)/.exec(version);
  if (!m) return undefined;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  const since = RESTRICT_SINCE[major];
  const knows = major >= 18 || (since !== undefined && minor >= since);
  return knows ? `\\restrict ${randomBytes(24).toString('hex')}` : undefined;
}

export class ToolError extends Failed {}

const INSTALL = 'install the PostgreSQL client tools of the same major version as the server (Debian/Ubuntu: apt-get install postgresql-client-<major>)';

/** The client tool's version; refuses a missing tool, or a pg_dump older than the server. */
export async function checkClientTool(exec: Executor, tool: 'pg_dump' | 'psql', serverMajor = 0): Promise<string> {
  let out: string;
  try {
    out = (await exec.check({ argv: [tool, '--version'] })).stdout.trim();
  } catch (err) {
    if (err instanceof CommandError && !err.result) throw new ToolError(`${tool} is not installed: ${INSTALL}`);
    throw err;
  }
  const major = Number(/\(PostgreSQL\) (\d+)/.exec(out)?.[1]);
  if (!major) throw new ToolError(`cannot tell the version of ${tool} from "${out}"`);
  if (tool === 'pg_dump' && major < serverMajor) {
    throw new ToolError(`${out} is older than the PostgreSQL ${serverMajor} server and cannot dump it: ${INSTALL.replace('<major>', String(serverMajor))}`);
  }
  return out;
}
