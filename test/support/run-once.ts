import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const marker = (name: string) => path.join(os.tmpdir(), `atlas-${name}.done`);

/** Whether `oncePerRun(name)` was done in this run (the run's TMPDIR is its own). */
export const doneThisRun = (name: string) => existsSync(marker(name));

/**
 * Does `work` once in this test run, for whichever test file asks first; the others wait until
 * it is done (or, if it failed, try it themselves). A directory made atomically is the lock.
 */
export async function oncePerRun(name: string, work: () => void, ceilingMs = 600_000): Promise<void> {
  const lock = path.join(os.tmpdir(), `atlas-${name}.lock`);
  const deadline = Date.now() + ceilingMs;
  while (!doneThisRun(name)) {
    try {
      mkdirSync(lock);
    } catch {
      if (Date.now() > deadline) throw new Error(`another test file did not finish "${name}" within ${ceilingMs / 60_000} minutes`);
      await new Promise((r) => setTimeout(r, 500));
      continue;
    }
    try {
      work();
      writeFileSync(marker(name), '');
    } finally {
      rmSync(lock, { recursive: true, force: true });
    }
  }
}
