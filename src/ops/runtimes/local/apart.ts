import { spawn } from 'node:child_process';
import { closeSync, constants, mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { freePort } from '../../core/free-port.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { processAlive } from '../../../shared/file-lock.js';
import { openNoFollow, readJsonFile, readTextIfPresent, writeFileAtomic } from '../../../shared/files.js';
import type { Executor } from '../../core/exec.js';
import { Refused } from '../../core/errors.js';
import { releaseError, type Apart, type Candidate } from '../runtime.js';
import { localFiles } from './files.js';

/** How long a stopped instance gets to finish, as the supervisor gives its children. */
const STOP_GRACE_MS = 15_000;

/** What `start` left in `<data>/rehearsal/instance.json`: enough for a later run to stop it. */
interface InstanceFile {
  pid: number;
  /** Its server.js: a pid is ours only while it still runs that (pids are reused). */
  script: string;
}

/** Whether `pid` still runs `script` (its command line names it). */
function runs(pid: number, script: string): boolean {
  if (!processAlive(pid)) return false;
  const cmdline = readTextIfPresent(`/proc/${pid}/cmdline`);
  return cmdline !== undefined && cmdline.split('\0').includes(script);
}

/**
 * The local runtime's versions apart: the release's own server.js and tpctl, run by tpctl
 * itself (not the supervisor, whose children serve production), on loopback, with a data
 * directory of their own under `<data>/rehearsal/`.
 */
export class LocalApart implements Apart {
  constructor(
    private readonly dataDir: string,
    private readonly exec: Executor,
  ) {}

  private get dir() {
    return path.join(this.dataDir, 'rehearsal');
  }

  private script(version: string, name: 'server.js' | 'tpctl.js'): string {
    return path.join(localFiles(this.dataDir).release(version), 'dist', 'cli', name);
  }

  async migrate(version: string, dbUrl: string): Promise<string> {
    const result = await this.exec.run({
      argv: [process.execPath, this.script(version, 'tpctl.js'), 'migrate', 'up', '--json'],
      env: { DB_URL: dbUrl },
      timeoutMs: 3_600_000,
    });
    if (result.code !== 0) throw new Refused(releaseError(result, `${version}'s tpctl migrate up`));
    return result.stdout;
  }

  async start(version: string, dbUrl: string, webhookAllow: string): Promise<Candidate> {
    await this.remove();
    mkdirSync(path.join(this.dir, 'data'), { recursive: true, mode: 0o700 });
    const port = await freePort();
    const logFile = path.join(this.dir, 'instance.log');
    const log = openNoFollow(logFile, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o640)!;
    const script = this.script(version, 'server.js');
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      DB_URL: dbUrl,
      ATLAS_HOST: '127.0.0.1',
      ATLAS_PORT: String(port),
      ATLAS_DATA_DIR: path.join(this.dir, 'data'),
      ATLAS_WEBHOOK_ALLOW: webhookAllow,
    };
    // Not the supervisor's hand-over, and no first admin made on the copy.
    for (const name of ['ATLAS_HANDOFF', 'ATLAS_ADMIN_EMAIL', 'ATLAS_ADMIN_PASSWORD']) delete env[name];
    const child = spawn(process.execPath, [script], { stdio: ['ignore', log, log], env });
    closeSync(log);
    let exit: number | null | undefined;
    child.once('exit', (code) => (exit = code ?? -1));
    child.once('error', () => (exit = -1));
    if (child.pid) writeFileAtomic(path.join(this.dir, 'instance.json'), `${JSON.stringify({ pid: child.pid, script } satisfies InstanceFile)}\n`, 0o600);
    return {
      healthUrl: `http://127.0.0.1:${port}/api/health`,
      state: async () => ({
        running: exit === undefined,
        crashed: exit !== undefined,
        exitCode: exit ?? undefined,
        detail: exit === undefined ? `running ${version} apart` : `${version} apart exited with ${exit}`,
      }),
      runningVersion: async () => readFileSync(path.join(localFiles(this.dataDir).release(version), '.atlas-version'), 'utf8').trim(),
      logsTail: async (lines) => (readTextIfPresent(logFile) ?? '').trimEnd().split('\n').slice(-lines).join('\n'),
    };
  }

  async remove(): Promise<boolean> {
    const file = readJsonFile<Partial<InstanceFile>>(path.join(this.dir, 'instance.json'));
    let had = false;
    if (file && Number.isSafeInteger(file.pid) && typeof file.script === 'string' && runs(file.pid!, file.script)) {
      had = true;
      process.kill(file.pid!, 'SIGTERM');
      const deadline = Date.now() + STOP_GRACE_MS;
      while (runs(file.pid!, file.script) && Date.now() < deadline) await sleep(50);
      if (runs(file.pid!, file.script)) process.kill(file.pid!, 'SIGKILL');
    }
    rmSync(this.dir, { recursive: true, force: true });
    return had;
  }
}
