import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { processAlive } from '../../../shared/file-lock.js';
import { readTextIfPresent } from '../../../shared/files.js';
import { isVersion } from '../../../shared/version.js';
import { localFiles, readCandidate, readCurrent, readStatus, writeCandidate, writeCurrent, type SupervisorStatus } from './files.js';
import { Executor } from '../../core/exec.js';
import { Refused } from '../../core/errors.js';
import { parseReleaseMetadata, RELEASE_FILE, type ReleaseMetadata } from '../../core/release-metadata.js';
import { migrateStatusOutput, type Apart, type Candidates, type Runtime, type RuntimeState } from '../runtime.js';
import { LocalApart } from './apart.js';

/**
 * The Tenant Plane as a local process, for a machine without a container engine: releases
 * unpacked side by side under `<data>/releases/<version>/`, one kept running by the supervisor
 * (`tpctl local start`). Switching writes `releases/current` and signals the supervisor.
 */
export class LocalRuntime implements Runtime {
  readonly name = 'local';
  constructor(
    private readonly dataDir: string,
    private readonly exec: Executor = new Executor(undefined, []),
  ) {}

  private get files() {
    return localFiles(this.dataDir);
  }

  describe(): string {
    return `local process (${this.files.releases})`;
  }

  private supervisor(): SupervisorStatus {
    const status = readStatus(this.dataDir);
    if (!status || !processAlive(status.supervisorPid)) {
      throw new Refused(`the local runtime is not running (no live supervisor in ${this.files.status})`, [{ do: 'start-local' }]);
    }
    return status;
  }

  private signal(signal: NodeJS.Signals): void {
    process.kill(this.supervisor().supervisorPid, signal);
  }

  /** Waits until the supervisor's status satisfies `done` (it acts on signals asynchronously). */
  private async until(what: string, done: (s: SupervisorStatus) => boolean): Promise<void> {
    const deadline = Date.now() + 30_000;
    while (!done(this.supervisor())) {
      if (Date.now() > deadline) throw new Error(`the local supervisor did not ${what} within 30 s`);
      await sleep(50);
    }
  }

  async check(_thorough: boolean): Promise<void> {
    this.supervisor();
  }

  async configuredVersion(): Promise<string> {
    const current = readCurrent(this.dataDir);
    if (!current) throw new Refused(`no release is current (${this.files.current})`, [{ do: 'start-local', naming: 'version' }]);
    return current;
  }

  async ensureAvailable(version: string): Promise<void> {
    const file = `${this.files.release(version)}/.atlas-version`;
    if (!existsSync(file) || readFileSync(file, 'utf8').trim() !== version) {
      throw new Refused(`release ${version} is not in ${this.files.releases}`, [{ do: 'add-release' }]);
    }
  }

  async availableVersions(): Promise<string[]> {
    if (!existsSync(this.files.releases)) return [];
    return readdirSync(this.files.releases).filter(isVersion);
  }

  async releaseMetadata(version: string): Promise<ReleaseMetadata | undefined> {
    const file = path.join(this.files.release(version), RELEASE_FILE);
    return existsSync(file) ? parseReleaseMetadata(readFileSync(file, 'utf8'), file) : undefined;
  }

  /** The release's own tpctl, with the same Node.js. */
  async targetSchemaStatus(version: string, dbUrl: string): Promise<string> {
    const tpctl = path.join(this.files.release(version), 'dist', 'cli', 'tpctl.js');
    return migrateStatusOutput(
      await this.exec.run({ argv: [process.execPath, tpctl, 'migrate', 'status', '--json'], env: { DB_URL: dbUrl }, timeoutMs: 60_000 }),
      version,
    );
  }

  async switchTo(version: string): Promise<void> {
    const before = this.supervisor();
    writeCurrent(this.dataDir, version);
    this.signal('SIGHUP');
    // Done once the supervisor has carried out this switch and started the version (a supervisor
    // of before that counts none: once its status changed at all, which a crash loop also does).
    const switched = (s: SupervisorStatus) => (before.switches === undefined ? s.since !== before.since : (s.switches ?? 0) > before.switches);
    await this.until(`start ${version}`, (s) => switched(s) && s.version === version && s.state !== 'stopped');
  }

  /** A rehearsal's version runs under tpctl itself, on loopback: the supervisor's children serve production. */
  async apart(): Promise<Apart> {
    return new LocalApart(this.dataDir, this.exec);
  }

  /** Candidates are children of the supervisor beside the one that serves, on a port of their own. */
  async candidates(): Promise<Candidates> {
    // The current release changes only on promotion: there is no configuration to put back.
    const discard = async () => {
      const had = Boolean(readCandidate(this.dataDir) ?? this.supervisor().candidate);
      if (!had) return false;
      writeCandidate(this.dataDir, undefined);
      this.signal('SIGUSR2');
      await this.until('stop the candidate', (s) => !s.candidate);
      return true;
    };
    return {
      describe: () => 'beside it, under the supervisor, which hands it the connections once promoted',
      start: async (version) => {
        await discard();
        writeCandidate(this.dataDir, version);
        this.signal('SIGUSR2');
        await this.until(`start ${version} beside what serves`, (s) => s.candidate?.version === version);
        const { port } = this.supervisor().candidate!;
        const candidate = () => this.supervisor().candidate;
        return {
          healthUrl: `http://127.0.0.1:${port}/api/health`,
          state: async () => {
            const c = candidate();
            const crashed = !c || c.state === 'crashed';
            return {
              running: !crashed,
              crashed,
              exitCode: c?.exitCode,
              detail: c ? `${c.state} ${c.version}${crashed ? ` (exit ${c.exitCode ?? '?'})` : ''}` : 'no candidate',
            };
          },
          runningVersion: async () => {
            const c = candidate();
            return c?.pid && processAlive(c.pid) ? this.versionFile(c.version) : undefined;
          },
          logsTail: (lines) => this.logsTail(lines),
        };
      },
      promote: async (version) => {
        const before = this.supervisor();
        writeCurrent(this.dataDir, version);
        writeCandidate(this.dataDir, undefined);
        this.signal('SIGHUP');
        await this.until(
          `serve ${version}`,
          (s) => (s.switches ?? 0) > (before.switches ?? 0) && s.version === version && s.state !== 'stopped' && !s.candidate,
        );
      },
      discard,
    };
  }

  private versionFile(version: string): string {
    return readFileSync(`${this.files.release(version)}/.atlas-version`, 'utf8').trim();
  }

  async state(): Promise<RuntimeState> {
    const s = this.supervisor();
    const crashed = s.state === 'crashed' || s.restarts > 0;
    return {
      running: s.state === 'running' || s.state === 'starting',
      crashed,
      exitCode: crashed ? s.exitCode : undefined,
      detail: `${s.state} ${s.version}${crashed ? ` (exit ${s.exitCode ?? '?'}, ${s.restarts} restart${s.restarts === 1 ? '' : 's'})` : ''}`,
    };
  }

  async runningVersion(): Promise<string | undefined> {
    const s = this.supervisor();
    if (!s.childPid || !processAlive(s.childPid)) return undefined;
    return this.versionFile(s.version);
  }

  async logsTail(lines: number): Promise<string> {
    // Not through a link: a planted one would put any file of this host in the support bundle.
    return (readTextIfPresent(this.files.log) ?? '').trimEnd().split('\n').slice(-lines).join('\n');
  }

  async stop(): Promise<void> {
    this.signal('SIGUSR1');
    await this.until('stop the Tenant Plane', (s) => s.state === 'stopped');
  }

  async start(): Promise<void> {
    this.signal('SIGUSR2');
    await this.until('start the Tenant Plane', (s) => s.state !== 'stopped');
  }
}
