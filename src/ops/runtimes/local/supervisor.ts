import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import path from 'node:path';
import { freePort } from '../../core/free-port.js';
import { openNoFollow } from '../../../shared/files.js';
import { HANDOFF, isReadyMessage } from '../../../shared/handoff.js';
import { localFiles, readCandidate, readCurrent, writeStatus, type CandidateStatus, type SupervisorStatus } from './files.js';

/** A connection no process is ready to take is held this long, then closed. */
const HOLD_MS = 30_000;
/** A Tenant Plane asked to stop gets this long to finish its requests in flight. */
const STOP_GRACE_MS = 15_000;

interface Child {
  version: string;
  proc: ChildProcess;
  /** Its private port, once it said it is ready. */
  port: number | undefined;
}

/**
 * What the supervisor is set on, which decides what a connection and a child's exit mean:
 * `serve`: a child should serve (an exit is a crash: restarted with backoff; connections wait
 * for a start but are closed while it crash-loops); `switch`: the child stops to be started on
 * another version (its exit is expected; connections wait); `stop`: nothing runs until tpctl
 * starts it again (around a backup of the embedded database or a restore: connections wait, up to
 * HOLD_MS each, as through a switch; at the end the server closes them).
 */
type Intent = 'serve' | 'switch' | 'stop';

const stopProcess = async (proc: ChildProcess) => {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), STOP_GRACE_MS);
  await exited;
  clearTimeout(timer);
};

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
 *   SIGUSR1  stop the child and the candidate (around a backup or a restore; connections wait)
 *   SIGTERM  stop everything and exit
 *
 * A candidate answers on its own port only (in the status file), until it is promoted.
 */
class Supervisor {
  private readonly files: ReturnType<typeof localFiles>;
  private readonly logFd: number;
  private status: SupervisorStatus = {
    supervisorPid: process.pid,
    childPid: undefined,
    version: '',
    state: 'stopped',
    exitCode: undefined,
    restarts: 0,
    switches: 0,
    since: new Date().toISOString(),
  };
  private intent: Intent = 'serve';
  private serving: Child | undefined;
  private candidate: Child | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  /** Connections waiting for a child to be ready. */
  private readonly held: Socket[] = [];
  /** Signals are handled one at a time, in order. */
  private queue = Promise.resolve();

  constructor(private readonly dataDir: string) {
    this.files = localFiles(dataDir);
    this.logFd = openNoFollow(this.files.log, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o640)!;
  }

  private update(patch: Partial<SupervisorStatus>): void {
    this.status = { ...this.status, ...patch, since: new Date().toISOString() };
    writeStatus(this.dataDir, this.status);
  }

  private updateCandidate(patch: Partial<CandidateStatus>): void {
    if (this.status.candidate) this.update({ candidate: { ...this.status.candidate, ...patch } });
  }

  handOver(socket: Socket): void {
    const to = this.serving;
    if (!to?.port || !to.proc.connected) {
      // Held through a switch, a stop that tpctl ends, or a start; closed at once while it
      // crash-loops or has no release to start (a client should not wait on that).
      const inVain = this.intent === 'serve' && (this.status.restarts > 0 || !to);
      if (inVain) socket.destroy();
      else this.held.push(socket);
      return;
    }
    to.proc.send(HANDOFF.connection, socket, { keepOpen: false }, (err) => {
      if (err && !socket.destroyed) this.held.push(socket);
    });
  }

  private handOverHeld(): void {
    for (const socket of this.held.splice(0)) if (!socket.destroyed) this.handOver(socket);
  }

  closeHeld(): void {
    for (const socket of this.held.splice(0)) socket.destroy();
  }

  /**
   * A child on a private port of loopback (any free one by default); it says when it is ready,
   * and which port. What its readiness and its exit mean depends on its role then: a candidate
   * promoted since is the child that serves.
   */
  private spawnChild(version: string, port = 0): Child {
    const proc = spawn(process.execPath, [path.join(this.files.release(version), 'dist', 'cli', 'server.js')], {
      stdio: ['ignore', this.logFd, this.logFd, 'ipc'],
      env: { ...process.env, ATLAS_HOST: '127.0.0.1', ATLAS_PORT: String(port), ATLAS_HANDOFF: '1' },
    });
    const child: Child = { version, proc, port: undefined };
    proc.on('message', (m) => {
      if (!isReadyMessage(m) || child.port) return;
      child.port = m.port;
      if (child === this.serving) {
        this.update({ state: 'running' });
        this.handOverHeld();
      } else if (child === this.candidate) this.updateCandidate({ state: 'running' });
    });
    proc.once('exit', (code) => {
      if (child === this.serving) this.servingExited(code);
      // A crashed candidate is shown, not restarted: tpctl, which waits on it, decides.
      else if (child === this.candidate) this.updateCandidate({ state: 'crashed', pid: undefined, exitCode: code ?? undefined });
    });
    return child;
  }

  /** The child that serves died on its own (one being stopped no longer serves): a crash. Restart with backoff, and show it meanwhile. */
  private servingExited(code: number | null): void {
    this.serving = undefined;
    const restarts = this.status.restarts;
    this.update({ state: 'crashed', childPid: undefined, exitCode: code ?? undefined, restarts: restarts + 1 });
    this.closeHeld();
    this.restartTimer = setTimeout(() => this.start(restarts + 1), Math.min(500 * 2 ** restarts, 10_000));
  }

  /** Serves `releases/current`. */
  start(restarts: number): void {
    this.intent = 'serve';
    const version = readCurrent(this.dataDir);
    if (!version) {
      this.update({ state: 'crashed', childPid: undefined, exitCode: undefined });
      return;
    }
    this.serving = this.spawnChild(version);
    this.update({ childPid: this.serving.proc.pid, version, state: 'starting', exitCode: undefined, restarts });
  }

  private async stopServing(intent: 'switch' | 'stop'): Promise<void> {
    clearTimeout(this.restartTimer);
    this.intent = intent;
    // New connections wait for the next child, not for the one that is stopping.
    const child = this.serving;
    this.serving = undefined;
    if (child) await stopProcess(child.proc);
    this.update({ state: 'stopped', childPid: undefined, exitCode: child?.proc.exitCode ?? undefined });
  }

  /** Its port is chosen first, so that tpctl knows where to check it while it starts. */
  private async startCandidate(version: string): Promise<void> {
    const port = await freePort();
    this.candidate = this.spawnChild(version, port);
    this.update({ candidate: { version, pid: this.candidate.proc.pid, port, state: 'starting', exitCode: undefined } });
  }

  private async stopCandidate(): Promise<void> {
    const child = this.candidate;
    this.candidate = undefined;
    this.update({ candidate: undefined });
    if (child) await stopProcess(child.proc);
  }

  /** The candidate takes the new connections; the old child finishes those it has, then stops. */
  private async promote(child: Child): Promise<void> {
    const old = this.serving;
    this.candidate = undefined;
    this.serving = child;
    this.intent = 'serve';
    clearTimeout(this.restartTimer);
    this.update({
      childPid: child.proc.pid,
      version: child.version,
      state: 'running',
      exitCode: undefined,
      restarts: 0,
      switches: (this.status.switches ?? 0) + 1,
      candidate: undefined,
    });
    this.handOverHeld();
    if (old) await stopProcess(old.proc);
  }

  serially(work: () => Promise<void>): void {
    this.queue = this.queue.then(work, work);
  }

  /** SIGHUP. */
  async switchToCurrent(): Promise<void> {
    const c = this.candidate;
    if (c?.port && c.version === readCurrent(this.dataDir) && c.proc.exitCode === null) return this.promote(c);
    await this.stopServing('switch');
    this.update({ switches: (this.status.switches ?? 0) + 1 });
    this.start(0);
  }

  /** SIGUSR1, and the end. */
  async stopAll(): Promise<void> {
    await this.stopCandidate();
    await this.stopServing('stop');
  }

  /** SIGUSR2. */
  async startWanted(): Promise<void> {
    if (!this.serving) this.start(0);
    const want = readCandidate(this.dataDir);
    if (this.candidate && (this.candidate.version !== want || this.status.candidate?.state === 'crashed')) await this.stopCandidate();
    if (want && !this.candidate) await this.startCandidate(want);
  }
}

export async function supervise(dataDir: string, listen: { host: string; port: number }): Promise<void> {
  const supervisor = new Supervisor(dataDir);
  const server = createServer({ pauseOnConnect: true }, (socket) => {
    socket.setTimeout(HOLD_MS, () => socket.destroy());
    supervisor.handOver(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, resolve);
  });
  process.on('SIGHUP', () => supervisor.serially(() => supervisor.switchToCurrent()));
  process.on('SIGUSR1', () => supervisor.serially(() => supervisor.stopAll()));
  process.on('SIGUSR2', () => supervisor.serially(() => supervisor.startWanted()));
  const finished = new Promise<void>((resolve) => {
    process.once('SIGTERM', () =>
      supervisor.serially(async () => {
        server.close();
        await supervisor.stopAll();
        supervisor.closeHeld();
        await unlink(localFiles(dataDir).status).catch(() => {});
        resolve();
      }),
    );
  });
  // Signal handlers do not keep Node.js alive, and with the child stopped nothing else would.
  const keepAlive = setInterval(() => {}, 2 ** 30);
  supervisor.start(0);
  await finished;
  clearInterval(keepAlive);
}
