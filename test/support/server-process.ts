import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { appRoot } from '../../src/shared/app-root.js';

export interface ServerProcess {
  child: ChildProcess;
  /** Every JSON log line so far. */
  logs: Record<string, unknown>[];
  /** Raw standard output and error so far. */
  output(): string;
  exited: Promise<number | null>;
  /** Resolves with the base URL once the server listens; rejects if it exits first. */
  ready: Promise<string>;
}

/** Runs the built Tenant Plane of a release directory as a real process, on a free port of 127.0.0.1. */
export function spawnServer(env: Record<string, string>, releaseDir = appRoot): ServerProcess {
  const child = spawn(process.execPath, [path.join(releaseDir, 'dist', 'cli', 'server.js')], {
    env: { PATH: process.env.PATH ?? '', ATLAS_HOST: '127.0.0.1', ATLAS_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  let raw = '';
  let partial = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ready = new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      raw += chunk.toString();
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.startsWith('{')) continue;
        const entry = JSON.parse(line) as Record<string, unknown>;
        logs.push(entry);
        if (entry.msg === 'Tenant Plane ready') resolve(String(entry.address));
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (raw += chunk.toString()));
    void exited.then((code) => reject(new Error(`server exited with ${code} before it was ready:\n${raw}`)));
  });
  ready.catch(() => {}); // callers that only await `exited` must not see an unhandled rejection
  return { child, logs, output: () => raw, exited, ready };
}

/** Starts a server and waits until it listens; returns it with its URL. */
export async function startServer(env: Record<string, string>, releaseDir = appRoot): Promise<ServerProcess & { url: string }> {
  const server = spawnServer(env, releaseDir);
  return { ...server, url: await server.ready };
}

/**
 * For benchmarks: starts a server and, once it is ready, drains its output unread, so that the
 * load generator beside it in this process does not parse (and keep) every log line.
 */
export async function startServerUnderLoad(env: Record<string, string>): Promise<ServerProcess & { url: string }> {
  const server = await startServer(env);
  server.child.stdout?.removeAllListeners('data');
  server.child.stdout?.resume();
  return server;
}
