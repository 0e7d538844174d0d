import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { newCluster } from '../../src/db/embedded.js';
import { PostgresServer } from './postgres-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Port of the PostgreSQL server shared by the run (each test file makes its own databases). */
    pgPort: number;
  }
}

let server: PostgresServer | undefined;
let runDir: string | undefined;

/**
 * The containers of Compose deployments that an earlier run, killed, left behind (their
 * directories are gone): their restart policy would restart them forever, loading this run.
 */
function removeOrphanedDeployments(): void {
  let listed: string;
  try {
    const format = '{{.ID}} {{.Label "com.docker.compose.project.working_dir"}}';
    listed = execFileSync('docker', ['ps', '-a', '--filter', 'label=com.docker.compose.project.working_dir', '--format', format], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
  } catch {
    return; // no Docker here
  }
  const orphans = listed
    .split('\n')
    .map((line) => line.split(' '))
    .filter(([id, dir]) => id && dir && path.basename(dir).startsWith('atlasdeploy-') && !existsSync(dir))
    .map(([id]) => id!);
  if (orphans.length) execFileSync('docker', ['rm', '-f', ...orphans], { stdio: 'ignore' });
}

export async function setup(project: TestProject): Promise<void> {
  removeOrphanedDeployments();
  // Every temporary directory of the run (the tests', the servers', the programs they start) is
  // made under one, removed at the end: a run leaves nothing behind (ATLAS_KEEP_TMP=1 keeps it).
  runDir = mkdtempSync(path.join(os.tmpdir(), 'atlas-run-'));
  chmodSync(runDir, 0o755); // PostgreSQL runs as its own user below it
  process.env.TMPDIR = runDir;
  // The fresh embedded cluster that the tests' new data directories start from (embeddedDir()).
  await (await newCluster(path.join(runDir, 'fresh-pglite'), runDir)).close();
  server = await PostgresServer.start();
  project.provide('pgPort', server.port);
}

export async function teardown(): Promise<void> {
  await server?.destroy();
  if (runDir && process.env.ATLAS_KEEP_TMP !== '1') rmSync(runDir, { recursive: true, force: true });
}
