import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, statfsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { newCluster } from '../../src/db/embedded.js';
import { CLUSTER_RUN } from './cluster.js';
import { testPlatforms } from './platforms.js';
import { PostgresServer } from './postgres-server.js';
import { doneThisRun } from './run-once.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Port of the PostgreSQL server shared by the run (each test file makes its own databases). */
    pgPort: number;
  }
}

/** What each project needs started (vitest.config.ts names them): `unit` needs nothing but the run's directory. */
const NEEDS: Record<string, { databases: boolean; docker: boolean }> = {
  unit: { databases: false, docker: false },
  db: { databases: true, docker: false },
  e2e: { databases: true, docker: true },
};

/**
 * What the run started, kept on globalThis: each project's set-up runs on its own (and only when
 * it has tests to run), but they share one directory and one PostgreSQL server, stopped after the last.
 */
interface Run {
  projects: number;
  dir: string;
  server?: Promise<PostgresServer>;
}
const shared = globalThis as { atlasTestRun?: Run };

/**
 * The containers of Compose deployments that an earlier run, killed, left behind (their
 * directories are gone): their restart policy would restart them forever, loading this run.
 */
function removeOrphanedDeployments(): void {
  const format = '{{.ID}} {{.Label "com.docker.compose.project.working_dir"}}';
  const listed = execFileSync('docker', ['ps', '-a', '--filter', 'label=com.docker.compose.project.working_dir', '--format', format], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const orphans = listed
    .split('\n')
    .map((line) => line.split(' '))
    .filter(([id, dir]) => id && dir && path.basename(dir).startsWith('atlasdeploy-') && !existsSync(dir))
    .map(([id]) => id!);
  if (orphans.length) execFileSync('docker', ['rm', '-f', ...orphans], { stdio: 'ignore' });
}

/** The magic number statfs gives a tmpfs. */
const TMPFS = 0x01021994;
/** Room the run needs in memory: it filled 2.3 GiB at most (df on /dev/shm every 5 s), mostly the shared PostgreSQL server's databases. */
const RUN_NEEDS_BYTES = 8 * 2 ** 30;

/** Whether /dev/shm is a tmpfs with room for the run (a container's is 64 MiB unless it is given more). */
function roomInMemory(): boolean {
  if (!existsSync('/dev/shm')) return false;
  const fs = statfsSync('/dev/shm');
  return fs.type === TMPFS && fs.bavail * fs.bsize >= RUN_NEEDS_BYTES;
}

/**
 * Every temporary directory of the run is made under one, removed at the end (ATLAS_KEEP_TMP=1
 * keeps it). It is in memory where the machine has a tmpfs at /dev/shm with room: tpctl flushes
 * each journal, record and backup to disk as it writes it (fsync), as it must, and on this
 * machine's disk those flushes were most of the lifecycle tests' time (47 s on /tmp, 18 s there).
 */
function runDirectory(): string {
  const inMemory = roomInMemory();
  const dir = mkdtempSync(path.join(inMemory ? '/dev/shm' : os.tmpdir(), 'atlas-run-'));
  chmodSync(dir, 0o755); // PostgreSQL runs as its own user below it
  process.env.TMPDIR = dir;
  return dir;
}

/** The PostgreSQL server, and the fresh embedded cluster that the tests' new data directories start from (embeddedDir()). */
async function databases(dir: string): Promise<PostgresServer> {
  await (await newCluster(path.join(dir, 'fresh-pglite'), dir)).close();
  return PostgresServer.start();
}

export async function setup(project: TestProject): Promise<void> {
  const needs = NEEDS[project.name];
  if (!needs) throw new Error(`test/support/global-setup.ts: no needs are known for project "${project.name}"`);
  const run = (shared.atlasTestRun ??= { projects: 0, dir: runDirectory() });
  run.projects++;
  if (needs.docker) removeOrphanedDeployments();
  if (needs.databases) project.provide('pgPort', (await (run.server ??= databases(run.dir))).port);
}

export async function teardown(): Promise<void> {
  const run = shared.atlasTestRun;
  if (!run || --run.projects > 0) return;
  shared.atlasTestRun = undefined;
  await (await run.server?.catch(() => undefined))?.destroy();
  if (doneThisRun(CLUSTER_RUN)) testPlatforms('cluster', 'down');
  if (process.env.ATLAS_KEEP_TMP !== '1') rmSync(run.dir, { recursive: true, force: true });
}
