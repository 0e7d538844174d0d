import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readTextIfPresent } from '../../shared/files.js';
import { supportBundleName } from '../../shared/names.js';
import { redactCredentials, redactSecrets } from '../../shared/redact.js';
import { stateFiles } from '../engine/state/files.js';
import type { Executor } from '../core/exec.js';
import { readHistory, type HistoryEntry } from '../engine/state/history.js';
import { withRunRecords } from '../engine/state/run-record.js';
import type { Runtime } from '../runtimes/runtime.js';
import { statusWith } from './status.js';
import type { TenantPlane } from '../probes/tenant-plane.js';

/**
 * The operator guide's "Getting help", as one archive for support: the versions before and after
 * the last attempt, the run logs, the health endpoint's answer and the platform's logs of the
 * Tenant Plane, plus tpctl's status and history. Each part that cannot be had (the Tenant Plane
 * is down, say) is named with why, and the rest is collected. Every text is redacted: the
 * secrets tpctl knows, a password in any URL, and any credential the Tenant Plane issues.
 */
export interface BundleInputs {
  dataDir: string;
  logDir: string;
  runtime: Runtime | Error;
  tenantPlane: TenantPlane;
  exec: Executor;
  /** Known secrets (DB_URL's password, the verification password or token, the metrics token). */
  secrets: readonly string[];
  outDir: string;
  /** How many of the newest run logs (with their records) go in. */
  runs: number;
  now: Date;
}

export interface BundlePart {
  name: string;
  what: string;
}

export interface Bundle {
  file: string;
  bytes: number;
  parts: BundlePart[];
  /** What could not be collected, and why. */
  missing: BundlePart[];
}

/** The secrets tpctl knows of, and every credential recognised by its form (shared/redact.ts). */
export function redactForSupport(text: string, secrets: readonly string[]): string {
  return redactCredentials(redactSecrets(text, secrets));
}

const RUN_LOG = /^(upgrade|rollback|drill)-\d{8}T\d{6}\.(log|json)$/;

export async function supportBundle(inputs: BundleInputs): Promise<Bundle> {
  const name = supportBundleName(inputs.now);
  const stem = name.replace(/\.tar\.gz$/, '');
  mkdirSync(inputs.outDir, { recursive: true });
  const staging = mkdtempSync(path.join(os.tmpdir(), 'atlas-support-'));
  const parts: BundlePart[] = [];
  const missing: BundlePart[] = [];
  const put = (file: string, text: string, what: string) => {
    const target = path.join(staging, stem, file);
    mkdirSync(path.dirname(target), { recursive: true });
    writeFileSync(target, redactForSupport(text, inputs.secrets), { mode: 0o600 });
    parts.push({ name: file, what });
  };
  const collect = async (file: string, what: string, read: () => Promise<string | undefined> | string | undefined) => {
    try {
      const text = await read();
      if (text === undefined) missing.push({ name: file, what: `${what}: there is none` });
      else put(file, text, what);
    } catch (err) {
      missing.push({ name: file, what: `${what}: ${redactForSupport((err as Error).message, inputs.secrets)}` });
    }
  };

  try {
    const files = stateFiles(inputs.dataDir);
    const health = await inputs.tenantPlane.health();
    const status = await statusWith(inputs.dataDir, inputs.runtime, health);
    const running = inputs.runtime instanceof Error ? undefined : await inputs.runtime.runningVersion().catch(() => undefined);
    const entries = readHistory(files.history);
    const last = (kind: HistoryEntry['kind']) => {
      const e = entries.findLast((h) => h.kind === kind);
      return e ? `${e.from} -> ${e.to} ${e.outcome}, at ${e.at} UTC` : 'none recorded';
    };
    // The newest rehearsal's line, from the run records (a refused run has none: its log says it).
    const rehearsal = withRunRecords(entries)
      .map((e) => e.run?.rehearsal as { line?: unknown } | undefined)
      .findLast((r) => typeof r?.line === 'string')?.line as string | undefined;
    const versions = [
      `configured:    ${status.configuredVersion ?? 'unknown'}`,
      `running:       ${running ?? 'unknown (not running, or its version file cannot be read)'}`,
      `previous:      ${status.previousVersion ?? 'none recorded'}`,
      `last upgrade:  ${last('upgrade')}`,
      `last rollback: ${last('rollback')}`,
      `last ${rehearsal ?? 'rehearsal: none recorded'}`,
    ];
    put('versions.txt', `${versions.join('\n')}\n`, `the versions: ${versions.map((v) => v.replace(/\s+/g, ' ')).join('; ')}`);
    put('status.json', `${JSON.stringify(status, null, 2)}\n`, 'tpctl status --json');

    if (health.error) missing.push({ name: 'health.json', what: `GET ${inputs.tenantPlane.healthUrl}: no answer (${health.error})` });
    else put('health.json', health.body ?? '', `GET ${inputs.tenantPlane.healthUrl}: HTTP ${health.status}`);

    await collect('history.txt', 'the history (data/.atlas-upgrade-history)', () => readTextIfPresent(files.history));
    put(
      'history.json',
      `${JSON.stringify(withRunRecords(entries), null, 2)}\n`,
      `tpctl history --json (${entries.length} run${entries.length === 1 ? '' : 's'})`,
    );

    const logs = existsSync(inputs.logDir) ? readdirSync(inputs.logDir).filter((n) => RUN_LOG.test(n)) : [];
    // Newest first by the stamp in the name; each log with its record.
    const newest = [...new Set(logs.map((n) => n.replace(/\.(log|json)$/, '')))]
      .sort((a, b) => b.slice(b.indexOf('-')).localeCompare(a.slice(a.indexOf('-'))))
      .slice(0, inputs.runs);
    if (newest.length === 0) missing.push({ name: 'logs/', what: `the run logs: none in ${inputs.logDir}` });
    for (const run of newest) {
      for (const ext of ['log', 'json']) {
        const file = path.join(inputs.logDir, `${run}.${ext}`);
        await collect(`logs/${run}.${ext}`, ext === 'log' ? `the run log of ${run}` : `the run record of ${run}`, () => readTextIfPresent(file));
      }
    }

    if (inputs.runtime instanceof Error)
      missing.push({ name: 'runtime-logs.txt', what: `the Tenant Plane's logs: ${redactForSupport(inputs.runtime.message, inputs.secrets)}` });
    else {
      const { runtime: platform } = inputs;
      await collect('runtime-logs.txt', `the Tenant Plane's logs (${platform.describe()}, last 2000 lines)`, () =>
        platform.logsTail(2000).then((t) => t || undefined),
      );
    }

    const manifest = [
      `AtlasAI Tenant Plane support bundle, made ${inputs.now.toISOString()} by tpctl on ${os.hostname()}`,
      '',
      ...parts.map((p) => `${p.name.padEnd(36)} ${p.what}`),
      ...(missing.length ? ['', 'not collected:', ...missing.map((p) => `${p.name.padEnd(36)} ${p.what}`)] : []),
      '',
      'Known secrets, passwords in URLs and Tenant Plane credentials are replaced by ***.',
    ];
    put('MANIFEST.txt', `${manifest.join('\n')}\n`, 'this list');

    // Written under a temporary name and renamed: no half-written archive under the final name.
    const file = path.join(inputs.outDir, name);
    const temp = path.join(inputs.outDir, `.${name}.${randomBytes(8).toString('hex')}.tmp`);
    try {
      await inputs.exec.check({ argv: ['tar', '-czf', temp, '-C', staging, stem] });
      chmodSync(temp, 0o600);
      renameSync(temp, file);
    } finally {
      rmSync(temp, { force: true });
    }
    return { file, bytes: statSync(file).size, parts, missing };
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}
