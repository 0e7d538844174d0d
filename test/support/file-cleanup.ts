import { afterAll } from 'vitest';
import { removeTempDirs } from './temp.js';

// A setup file: each test file's temporary directories go when it ends (after its own hooks), not
// with the run, whose directory is in memory (global-setup.ts): kept to the end, the PGlite
// directories and releases of 80 files grew past 4 GB in the first minutes.
afterAll(() => removeTempDirs());
