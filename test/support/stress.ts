/**
 * The stress check of the suite: runs the db and e2e projects N times (default 3) with a busy
 * loop pinned to one core, and reports every test that failed in any run. A test that fails
 * only under load waits for time, not for an event: see docs/development/testing.md.
 *
 *   npm run test:stress                      STRESS_RUNS=5 npm run test:stress
 *   npm run test:stress -- test/e2e/local.test.ts      (only these files)
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const runsText = process.env.STRESS_RUNS ?? '3';
if (!/^\d{1,2}$/.test(runsText) || Number(runsText) < 1) {
  process.stderr.write(`test:stress: STRESS_RUNS=${runsText.slice(0, 20)} is not a number of runs from 1 to 99\n`);
  process.exit(2);
}
const runs = Number(runsText);
const files = process.argv.slice(2);
const say = (line: string) => process.stdout.write(`${line}\n`);

interface JsonReport {
  testResults: { name: string; status: string; message?: string; assertionResults: { fullName: string; status: string }[] }[];
}

// The load: one core kept busy for the whole check (taskset pins it; util-linux has it).
const hog = spawn('taskset', ['-c', '0', process.execPath, '-e', 'for (;;) {}'], { stdio: 'ignore' });
const stopHog = () => hog.kill('SIGKILL');
process.on('exit', stopHog);
const work = mkdtempSync(path.join(os.tmpdir(), 'atlas-stress-'));

const failed = new Map<string, number[]>();
try {
  for (let run = 1; run <= runs; run++) {
    const report = path.join(work, `run-${run}.json`);
    const started = performance.now();
    say(`== test:stress: run ${run} of ${runs}, the db and e2e projects, one core busy`);
    const vitest = spawnSync(
      process.execPath,
      [
        'node_modules/vitest/vitest.mjs',
        'run',
        '--project',
        'db',
        '--project',
        'e2e',
        '--reporter=dot',
        '--reporter=json',
        `--outputFile.json=${report}`,
        ...files,
      ],
      { stdio: 'inherit' },
    );
    const results = (JSON.parse(readFileSync(report, 'utf8')) as JsonReport).testResults;
    for (const file of results) {
      const name = path.relative(process.cwd(), file.name);
      const failures = file.assertionResults.filter((t) => t.status === 'failed').map((t) => `${name} › ${t.fullName}`);
      // A file that failed as a whole (its set-up) has no failed test of its own to name.
      if (file.status === 'failed' && !failures.length) failures.push(`${name} (the file: ${(file.message ?? '').split('\n')[0]})`);
      for (const f of failures) failed.set(f, [...(failed.get(f) ?? []), run]);
    }
    say(`== run ${run}: exit ${vitest.status}, ${((performance.now() - started) / 60_000).toFixed(1)} min`);
  }
} finally {
  stopHog();
  rmSync(work, { recursive: true, force: true });
}
say(failed.size ? `\ntest:stress: ${failed.size} test(s) failed in ${runs} run(s):` : `\ntest:stress: no test failed in ${runs} run(s)`);
for (const [test, inRuns] of failed) say(`  runs ${inRuns.join(', ')}: ${test}`);
process.exitCode = failed.size ? 1 : 0;
