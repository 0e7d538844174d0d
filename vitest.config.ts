import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Three files at a time on these 2 cores: the Docker and end-to-end files mostly wait on
    // other processes, and with two a third of the CPU time went unused.
    maxWorkers: 3,
  },
});
