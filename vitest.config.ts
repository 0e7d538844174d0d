import { defineConfig } from 'vitest/config';

/**
 * The suite in three projects, by what their tests need (test/support/global-setup.ts starts it,
 * only for the projects that run):
 *   unit  nothing: no PostgreSQL, embedded database, Docker, cluster or browser   *.test.ts
 *   db    PostgreSQL and the embedded database                                    *.db.test.ts
 *   e2e   besides, the Docker Engine, Compose, the cluster and Chromium           test/e2e/, *.e2e.test.ts
 */
const DB = 'test/**/*.db.test.ts';
const E2E = ['test/e2e/**/*.test.ts', 'test/**/*.e2e.test.ts'];
const globalSetup = ['test/support/global-setup.ts'];
/** Each file's temporary directories are removed when it ends. */
const setupFiles = ['test/support/file-cleanup.ts'];

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    maxWorkers: 2,
    reporters: ['default', './test/support/timings-reporter.ts'],
    setupFiles,
    projects: [
      { extends: true, test: { name: 'unit', globalSetup, include: ['test/**/*.test.ts'], exclude: [DB, ...E2E] } },
      { extends: true, test: { name: 'db', globalSetup, include: [DB], exclude: E2E } },
      { extends: true, test: { name: 'e2e', globalSetup, include: E2E } },
    ],
  },
});
