import { spawn, type ChildProcess } from 'node:child_process';
import { openSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import path from 'node:path';
import { HANDOFF, isReadyMessage } from '../../../shared/handoff.js';
import { localFiles, readCandidate, readCurrent, writeStatus, type CandidateStatus, type SupervisorStatus } from './files.js';

/** A connection no process is ready to take is held this long, then closed. */
const HOLD_MS = 30_000;
/** A Tenant Plane asked to stop gets this long to finish its requests in flight. */
const STOP_GRACE_MS = 15_000;

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });

interface Child {
  version: string;
  proc: ChildProcess;
  /** Its private port, once it said it is ready. */
  port: number | undefined;
}

/**
 * Keeps one release of the Tenant Plane serving as a child process, and owns the public address:
 * it accepts every connection and hands it to the child that serves, so no switch refuses one
 * (a connection that arrives while none is ready waits for one). It restarts a crashed child
 * (with backoff) and acts on signals, one at a time, from the files tpctl writes:
 *
 *   SIGHUP   serve `releases/current`: the candidate, when it runs that version and is ready,
 *            takes the new connections and the old child finishes its own and stops;
 *            otherwise the child is restarted on it
 *   SIGUSR2  start what the files name and does not run: the child, and the candidate of
 *            `releases/candidate` (stopped when the file is gone)
 *   SIGUSR1  stop the child and the candidate (around a restore)
 *   SIGTERM  stop everything and exit
 *
 * A candidate answers on its own port only (in the status file), until it is promoted.
 */
export async function supervise(dataDir: string, listen: { host: string; port: number }): Promise<void> {
  const files = localFiles(dataDir);
  const logFd = openSync(files.log, 'a', 0o640);
  let status: SupervisorStatus = { supervisorPid: process.pid, childPid: undefined, version: '', state: 'stopped', exitCode: undefined, restarts: 0, switches: 0, since: new Date().toISOString() };
  let serving: Child | undefined;
  let candidate: Child | undefined;
  let wanted = true;
  /** A switch is under way (the old child stopping, the new one to start): connections wait for it. */
  let switching = false;
  let restartTimer: NodeJS.Timeout | undefined;
  const held: Socket[] = [];
  const update = (patch: Partial<SupervisorStatus>) => {
    status = { ...status, ...patch, since: new Date().toISOString() };
    writeStatus(dataDir, status);
  };
  const updateCandidate = (patch: Partial<CandidateStatus>) => status.candidate && update({ candidate: { ...status.candidate, ...patch } });

  const handOver = (socket: Socket) => {
    const to = serving;
    if (!to?.port || !to.proc.connected) {
      // Held through a switch or a start; closed at once while it is stopped or crash-loops (a
      // client should not wait on that).
      if (status.restarts === 0 && (switching || to)) held.push(socket);
      else socket.destroy();
      return;
    }
    to.proc.send(HANDOFF.connection, socket, { keepOpen: false }, (err) => {
      if (err && !socket.destroyed) held.push(socket);
    });
  };
  const handOverHeld = () => {
    for (const socket of held.splice(0)) if (!socket.destroyed) handOver(socket);
  };
  const server = createServer({ pauseOnConnect: true }, (socket) => {
    socket.setTimeout(HOLD_MS, () => socket.destroy());
    handOver(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, resolve);
  });

  /**
   * A child on a private port of loopback (any free one by default); it says when it is ready,
   * and which port. What its readiness and its exit mean depends on its role then: a candidate
   * promoted since is the child that serves.
   */
  const spawnChild = (version: string, port = 0): Child => {
    const proc = spawn(process.execPath, [path.join(files.release(version), 'dist', 'cli', 'server.js')], {
      stdio: ['ignore', logFd, logFd, 'ipc'],
      env: { ...process.env, ATLAS_HOST: '127.0.0.1', ATLAS_PORT: String(port), ATLAS_HANDOFF: '1' },
    });
    const child: Child = { version, proc, port: undefined };
    proc.on('message', (m) => {
      if (!isReadyMessage(m) || child.port) return;
      child.port = m.port;
      if (child === serving) {
        update({ state: 'running' });
        handOverHeld();
      } else if (child === candidate) updateCandidate({ state: 'running' });
    });
    proc.once('exit', (code) => {
      if (child === serving) servingExited(code);
      // A crashed candidate is shown, not restarted: tpctl, which waits on it, decides.
      else if (child === candidate) updateCandidate({ state: 'crashed', pid: undefined, exitCode: code ?? undefined });
    });
    return child;
  };

  const servingExited = (code: number | null) => {
    serving = undefined;
    if (!wanted) {
      update({ state: 'stopped', childPid: undefined, exitCode: code ?? undefined });
      return;
    }
    // It died on its own: a crash. Restart with backoff, and show it meanwhile.
    const restarts = status.restarts;
    update({ state: 'crashed', childPid: undefined, exitCode: code ?? undefined, restarts: restarts + 1 });
    for (const socket of held.splice(0)) socket.destroy();
    restartTimer = setTimeout(() => start(restarts + 1), Math.min(500 * 2 ** restarts, 10_000));
  };

  const stopProcess = async (proc: ChildProcess) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
  };

  const start = (restarts: number) => {
    const version = readCurrent(dataDir);
    if (!version) {
      update({ state: 'crashed', childPid: undefined, exitCode: undefined });
      return;
    }
    serving = spawnChild(version);
    update({ childPid: serving.proc.pid, version, state: 'starting', exitCode: undefined, restarts });
  };

  const stopServing = async () => {
    clearTimeout(restartTimer);
    wanted = false;
    const child = serving;
    if (child) await stopProcess(child.proc);
    else update({ state: 'stopped', childPid: undefined });
  };

  /** Its port is chosen first, so that tpctl knows where to check it while it starts. */
  const startCandidate = async (version: string) => {
    const port = await freePort();
    candidate = spawnChild(version, port);
    update({ candidate: { version, pid: candidate.proc.pid, port, state: 'starting', exitCode: undefined } });
  };
  const stopCandidate = async () => {
    const child = candidate;
    candidate = undefined;
    update({ candidate: undefined });
    if (child) await stopProcess(child.proc);
  };

  /** The candidate takes the new connections; the old child finishes those it has, then stops. */
  const promote = async (child: Child) => {
    const old = serving;
    candidate = undefined;
    serving = child;
    wanted = true;
    clearTimeout(restartTimer);
    update({ childPid: child.proc.pid, version: child.version, state: 'running', exitCode: undefined, restarts: 0, switches: (status.switches ?? 0) + 1, candidate: undefined });
    handOverHeld();
    if (old) await stopProcess(old.proc);
  };

  // Signals are handled one at a time, in order.
  let queue = Promise.resolve();
  const serially = (work: () => Promise<void>): void => {
    queue = queue.then(work, work);
  };

  process.on('SIGHUP', () =>
    serially(async () => {
      const c = candidate;
      if (c?.port && c.version === readCurrent(dataDir) && c.proc.exitCode === null) return promote(c);
      switching = true;
      await stopServing();
      switching = false;
      wanted = true;
      update({ switches: (status.switches ?? 0) + 1 });
      start(0);
    }),
  );
  process.on('SIGUSR1', () =>
    serially(async () => {
      await stopCandidate();
      await stopServing();
      for (const socket of held.splice(0)) socket.destroy();
    }),
  );
  process.on('SIGUSR2', () =>
    serially(async () => {
      if (!serving) {
        wanted = true;
        start(0);
      }
      const want = readCandidate(dataDir);
      if (candidate && (candidate.version !== want || status.candidate?.state === 'crashed')) await stopCandidate();
      if (want && !candidate) await startCandidate(want);
    }),
  );
  const finished = new Promise<void>((resolve) => {
    process.once('SIGTERM', () =>
      serially(async () => {
        server.close();
        for (const socket of held.splice(0)) socket.destroy();
        await stopCandidate();
        await stopServing();
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
