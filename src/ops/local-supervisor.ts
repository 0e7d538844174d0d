import { spawn, type ChildProcess } from 'node:child_process';
import { openSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import path from 'node:path';
import { localFiles, readCurrent, writeStatus, type SupervisorStatus } from './runtimes/local-files.js';

/**
 * Keeps one release of the Tenant Plane running as a child process: restarts it when it crashes
 * (with backoff), switches to the release named in `releases/current` on SIGHUP, stops the
 * child on SIGUSR1 and starts it again on SIGUSR2 (around a restore), and stops on SIGTERM.
 * Its status file is what the local runtime driver reads.
 */
export async function supervise(dataDir: string): Promise<void> {
  const files = localFiles(dataDir);
  const logFd = openSync(files.log, 'a', 0o640);
  let child: ChildProcess | undefined;
  let status: SupervisorStatus = { supervisorPid: process.pid, childPid: undefined, version: '', state: 'stopped', exitCode: undefined, restarts: 0, switches: 0, since: new Date().toISOString() };
  let wanted = true;
  let restartTimer: NodeJS.Timeout | undefined;
  const update = (patch: Partial<SupervisorStatus>) => {
    status = { ...status, ...patch, since: new Date().toISOString() };
    writeStatus(dataDir, status);
  };

  const start = (restarts: number) => {
    const version = readCurrent(dataDir);
    if (!version) {
      update({ state: 'crashed', childPid: undefined, exitCode: undefined });
      return;
    }
    const proc = spawn(process.execPath, [path.join(files.release(version), 'dist', 'cli', 'server.js')], { stdio: ['ignore', logFd, logFd], env: process.env });
    child = proc;
    update({ childPid: proc.pid, version, state: 'starting', exitCode: undefined, restarts });
    const ready = setInterval(() => {
      if (child === proc && status.state === 'starting') update({ state: 'running' });
    }, 1000);
    proc.once('exit', (code) => {
      clearInterval(ready);
      if (child !== proc) return;
      child = undefined;
      if (!wanted) {
        update({ state: 'stopped', childPid: undefined, exitCode: code ?? undefined });
        return;
      }
      // It died on its own: a crash. Restart with backoff, and show it meanwhile.
      update({ state: 'crashed', childPid: undefined, exitCode: code ?? undefined, restarts: restarts + 1 });
      restartTimer = setTimeout(() => start(restarts + 1), Math.min(500 * 2 ** restarts, 10_000));
    });
  };

  const stopChild = async () => {
    clearTimeout(restartTimer);
    const proc = child;
    if (!proc) {
      update({ state: 'stopped', childPid: undefined });
      return;
    }
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  };

  // Signals are handled one at a time, in order.
  let queue = Promise.resolve();
  const serially = (work: () => Promise<void>): void => {
    queue = queue.then(work, work);
  };

  process.on('SIGHUP', () =>
    serially(async () => {
      wanted = false;
      await stopChild();
      wanted = true;
      update({ switches: (status.switches ?? 0) + 1 });
      start(0);
    }),
  );
  process.on('SIGUSR1', () =>
    serially(async () => {
      wanted = false;
      await stopChild();
    }),
  );
  process.on('SIGUSR2', () =>
    serially(async () => {
      if (child) return;
      wanted = true;
      start(0);
    }),
  );
  const finished = new Promise<void>((resolve) => {
    process.once('SIGTERM', () =>
      serially(async () => {
        wanted = false;
        await stopChild();
        await unlink(files.status).catch(() => {});
        resolve();
      }),
    );
  });
  // Signal handlers do not keep Node.js alive, and with the child stopped nothing else would.
  const keepAlive = setInterval(() => {}, 2 ** 30);
  start(0);
  await finished;
  clearInterval(keepAlive);
}
