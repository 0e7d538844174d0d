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

export async function setup(project: TestProject): Promise<void> {
  server = await PostgresServer.start();
  project.provide('pgPort', server.port);
  project.provide('pgDir', server.dir);
}

export async function teardown(): Promise<void> {
  await server?.destroy();
}
