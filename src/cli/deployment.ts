import path from 'node:path';
import { parseJson, isObject } from '../shared/json.js';
import { readTextIfPresent, writeFileAtomic } from '../shared/files.js';
import { hasControlCharacter } from '../shared/text.js';
import { printable } from '../shared/version.js';
import { CliError } from './io.js';
import { KINDS, RUNTIMES, type RuntimeKind } from './runtimes.js';

/**
 * The deployment a data directory belongs to, remembered (model: Kamal's config/deploy.yml):
 * the first command that sets one up (tpctl local start, local run, release add, an upgrade or
 * a rollback) writes `<data>/deployment.json`: the runtime, and the settings it was given, as
 * the variables that gave them; such a command given a setting the record does not have yet
 * adds it. Every command reads it, so a new shell needs none of them, and a variable that says
 * otherwise is refused with both named: a command never acts on another runtime, namespace or
 * Compose service than the deployment's.
 */
export const DEPLOYMENT_FILE = 'deployment.json';

/** The settings every runtime remembers, with their defaults in the operator's words. */
export const COMMON_SETTINGS = {
  ATLAS_LOG_DIR: '/var/log/atlas',
  HEALTH_URL: 'http://localhost:3000/api/health',
} as const;

export interface DeploymentRecord {
  runtime: RuntimeKind;
  /** The settings it was given, as the variables that gave them; one not here was never given (its default holds). */
  settings: Record<string, string>;
  recorded: { at: string; by: string };
}

export const deploymentFile = (dataDir: string) => path.join(dataDir, DEPLOYMENT_FILE);

/** The variables a deployment on `kind` remembers. */
const remembered = (kind: RuntimeKind): string[] => [...Object.keys(COMMON_SETTINGS), ...Object.keys(RUNTIMES[kind].settings)];

/** A value as it is compared and kept: a log directory as an absolute path (the shell's directory changes). */
const normal = (name: string, value: string) => (name === 'ATLAS_LOG_DIR' ? path.resolve(value) : value);

/** The record in `dataDir`, checked as hostile input; undefined when none was made yet. */
export function readDeployment(dataDir: string): DeploymentRecord | undefined {
  const file = deploymentFile(dataDir);
  const text = readTextIfPresent(file);
  if (text === undefined) return undefined;
  const bad = (why: string) => new CliError(`${file} is not a deployment record (${why}): correct it, or remove it to set the deployment up again`);
  const o = parseJson(text)?.value;
  if (!isObject(o)) throw bad('not a JSON object');
  const extra = Object.keys(o).filter((k) => !['runtime', 'settings', 'recorded'].includes(k));
  if (extra.length) throw bad(`unknown field ${printable(extra[0]!, 40)}`);
  if (!(KINDS as readonly unknown[]).includes(o.runtime)) throw bad(`runtime must be one of ${KINDS.join(', ')}`);
  const runtime = o.runtime as RuntimeKind;
  if (!isObject(o.settings)) throw bad('settings must be an object');
  const allowed = remembered(runtime);
  for (const [name, value] of Object.entries(o.settings)) {
    if (!allowed.includes(name)) throw bad(`${printable(name, 40)} is not a setting of the ${runtime} runtime (${allowed.join(', ')})`);
    if (typeof value !== 'string' || value === '' || value.length > 4096 || hasControlCharacter(value)) throw bad(`${name} must be a one-line text`);
  }
  const recorded = o.recorded;
  if (!isObject(recorded) || typeof recorded.at !== 'string' || typeof recorded.by !== 'string' || hasControlCharacter(recorded.at + recorded.by))
    throw bad('recorded must say when and by which command');
  return { runtime, settings: o.settings as Record<string, string>, recorded: { at: recorded.at, by: recorded.by } };
}

/** Where the record came from, for the messages that name it. */
const origin = (file: string, record: DeploymentRecord) => `${file}, recorded by ${printable(record.recorded.by, 60)} at ${printable(record.recorded.at, 40)}`;

/** A runtime asked for (`asked` says how, in the operator's words), refused when it is not the deployment's. */
export function refuseOtherRuntime(record: DeploymentRecord, dataDir: string, asked: string, kind: string): void {
  if (kind === record.runtime) return;
  if (!(KINDS as readonly string[]).includes(kind)) throw new CliError(`${asked} is not valid: ${KINDS.join(', ')}`);
  throw new CliError(
    `${asked}, but this deployment runs on ${record.runtime} (${origin(deploymentFile(dataDir), record)}): ` +
      `nothing was done; to set the deployment up again on another runtime, remove ${deploymentFile(dataDir)}`,
  );
}

/** The environment a command works with: the variables given now, over the deployment's settings, which they must agree with. */
export function settledEnvironment(env: Readonly<Record<string, string | undefined>>, dataDir: string, record: DeploymentRecord | undefined) {
  if (!record) return env;
  const file = deploymentFile(dataDir);
  if (env.ATLAS_RUNTIME) refuseOtherRuntime(record, dataDir, `ATLAS_RUNTIME=${printable(env.ATLAS_RUNTIME, 20)}`, env.ATLAS_RUNTIME);
  for (const name of remembered(record.runtime)) {
    const given = env[name];
    if (!given) continue;
    const kept = record.settings[name];
    if (kept === undefined || normal(name, given) === kept) continue;
    throw new CliError(
      `${name}=${printable(given, 80)}, but this deployment has ${name}=${printable(kept, 80)} (${origin(file, record)}); ` +
        `nothing was done; unset ${name} to use the deployment's, or edit ${file} to change the deployment`,
    );
  }
  return { ...env, ATLAS_RUNTIME: record.runtime, ...record.settings };
}

/**
 * Records the deployment `kind` set up with `env` (which agreed with `before`, the record already
 * there, on that runtime): a new record, or the settings given now that the record did not have yet.
 */
export function rememberDeployment(
  dataDir: string,
  before: DeploymentRecord | undefined,
  kind: RuntimeKind,
  env: Readonly<Record<string, string | undefined>>,
  by: string,
): void {
  const settings: Record<string, string> = { ...before?.settings };
  for (const name of remembered(kind)) {
    const value = env[name];
    if (value && settings[name] === undefined) settings[name] = normal(name, value);
  }
  if (before && Object.keys(settings).length === Object.keys(before.settings).length) return;
  const record: DeploymentRecord = { runtime: kind, settings, recorded: before?.recorded ?? { at: new Date().toISOString(), by } };
  writeFileAtomic(deploymentFile(dataDir), `${JSON.stringify(record, null, 2)}\n`);
}

/** Each setting of the deployment with its value and where the value comes from (`tpctl config show`). */
export function describeSettings(
  env: Readonly<Record<string, string | undefined>>,
  dataDir: string,
  record: DeploymentRecord | undefined,
  kind: RuntimeKind,
): { name: string; value: string; from: string }[] {
  const defaults: Record<string, string> = { ...COMMON_SETTINGS, ...RUNTIMES[kind].settings };
  const from = (name: string, fallback: string) => {
    if (record?.settings[name] !== undefined) return { value: record.settings[name], from: DEPLOYMENT_FILE };
    if (env[name]) return { value: normal(name, env[name]), from: 'environment' };
    return { value: fallback, from: 'default' };
  };
  return [
    { name: 'ATLAS_DATA_DIR', ...(env.ATLAS_DATA_DIR ? { value: env.ATLAS_DATA_DIR, from: 'environment' } : { value: dataDir, from: 'default' }) },
    { name: 'ATLAS_RUNTIME', value: kind, from: record ? DEPLOYMENT_FILE : env.ATLAS_RUNTIME ? 'environment' : 'default' },
    ...Object.entries(defaults).map(([name, fallback]) => ({ name, ...from(name, fallback) })),
  ];
}
