import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { PostgresServer } from './postgres-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Port of the PostgreSQL server shared by the run (each test file makes its own databases). */
    pgPort: number;
    pgDir: string;
  }
}

let server: PostgresServer | undefined;
let runDir: string | undefined;

export async function setup(project: TestProject): Promise<void> {
  // Every temporary directory of the run (the tests', the servers', the programs they start) is
  // made under one, removed at the end: a run leaves nothing behind (ATLAS_KEEP_TMP=1 keeps it).
  runDir = mkdtempSync(path.join(os.tmpdir(), 'atlas-run-'));
  chmodSync(runDir, 0o755); // PostgreSQL runs as its own user below it
  process.env.TMPDIR = runDir;
  server = await PostgresServer.start();
  project.provide('pgPort', server.port);
  project.provide('pgDir', server.dir);
}

export async function teardown(): Promise<void> {
  await server?.destroy();
  if (runDir && process.env.ATLAS_KEEP_TMP !== '1') rmSync(runDir, { recursive: true, force: true });
}
