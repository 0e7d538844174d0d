import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { processAlive } from '../../../shared/file-lock.js';
import { parseVersion } from '../../../shared/version.js';
import type { Executor } from '../../core/exec.js';
import { waitHealthy } from '../../probes/health.js';
import { Failed, Refused } from '../../core/errors.js';
import { LocalRuntime } from './runtime.js';
import { crashOf } from '../runtime.js';
import { localFiles, readCurrent, readStatus, writeCurrent, type SupervisorStatus } from './files.js';
import type { TenantPlane } from '../../probes/tenant-plane.js';

/** The local runtime's set-up: its releases, and its supervisor started and stopped. */

/** The supervisor's status when it lives. */
export function liveSupervisor(dataDir: string): SupervisorStatus | undefined {
  const status = readStatus(dataDir);
  return status && processAlive(status.supervisorPid) ? status : undefined;
}

/**
 * Copies a staged release (a directory, or a .tar.gz of one) into `releases/<version>/`, beside
 * the others; its version is its own `.atlas-version`. Nothing is left half-copied. The first
 * release added becomes current (what `tpctl local run` starts, under systemd too).
 */
export async function addRelease(dataDir: string, source: string, exec: Executor): Promise<{ version: string; dir: string; current: boolean }> {
  if (!existsSync(source)) throw new Refused(`${source} does not exist: name a release directory or .tar.gz`);
  const files = localFiles(dataDir);
  mkdirSync(files.releases, { recursive: true });
  const staging = mkdtempSync(path.join(files.releases, '.adding-'));
  try {
    if (source.endsWith('.tar.gz') || source.endsWith('.tgz')) {
      await exec.check({ argv: ['tar', '-xzf', path.resolve(source), '-C', staging] });
    } else {
      cpSync(source, staging, { recursive: true, verbatimSymlinks: true });
    }
    let version: string;
    try {
      version = parseVersion(readFileSync(path.join(staging, '.atlas-version'), 'utf8').trim()).text;
    } catch {
      throw new Refused(`${source} is not a release: it has no valid .atlas-version`);
    }
    if (!existsSync(path.join(staging, 'dist', 'cli', 'server.js'))) throw new Refused(`${source} is not a release: dist/cli/server.js is missing`);
    if (existsSync(files.release(version))) throw new Refused(`release ${version} is already in ${files.releases}`);
    renameSync(staging, files.release(version));
    const current = !readCurrent(dataDir);
    if (current) writeCurrent(dataDir, version);
    return { version, dir: files.release(version), current };
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/** Makes `version` the current release (it must have been added), or checks that one is current. */
export function chooseRelease(dataDir: string, version: string | undefined): void {
  const files = localFiles(dataDir);
  if (version) {
    if (!existsSync(files.release(version))) throw new Refused(`release ${version} is not added`, [{ do: 'add-release' }]);
    writeCurrent(dataDir, version);
  } else if (!readCurrent(dataDir)) {
    throw new Refused(`no release is current (${files.current})`, [{ do: 'start-local', naming: 'version' }]);
  }
}

/**
 * Starts the supervisor in the background (`launch`), on the current release or on `version`
 * (which becomes current), and waits until that release answers healthy, failing at once when it crashes.
 */
export async function startLocal(
  dataDir: string,
  options: { version: string | undefined; launch: () => void; tenantPlane: TenantPlane; timeoutMs: number },
): Promise<SupervisorStatus> {
  if (liveSupervisor(dataDir)) throw new Refused('the local runtime is already running');
  const files = localFiles(dataDir);
  chooseRelease(dataDir, options.version);
  const deadline = Date.now() + options.timeoutMs;
  options.launch();
  let status: SupervisorStatus | undefined;
  while (!(status = liveSupervisor(dataDir))?.version) {
    if (Date.now() > deadline)
      throw new Failed(`the supervisor did not start within ${Math.round(options.timeoutMs / 1000)} s`, [{ do: 'read-log', log: files.log }]);
    await sleep(50);
  }
  const wait = await waitHealthy({
    probe: () => options.tenantPlane.health(),
    version: status.version,
    timeoutMs: Math.max(0, deadline - Date.now()),
    crashed: crashOf(new LocalRuntime(dataDir)),
  });
  if (!wait.healthy) throw new Failed(`started, but ${status.version} is not healthy: ${wait.reason}`, [{ do: 'read-log', log: files.log }]);
  return status;
}

/** Stops the Tenant Plane and its supervisor (SIGTERM: requests in flight finish); returns what ran, or undefined when nothing did. */
export async function stopLocal(dataDir: string): Promise<SupervisorStatus | undefined> {
  const status = liveSupervisor(dataDir);
  if (!status) return undefined;
  process.kill(status.supervisorPid, 'SIGTERM');
  while (processAlive(status.supervisorPid)) await sleep(50);
  return status;
}
