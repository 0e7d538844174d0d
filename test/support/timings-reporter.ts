import { mkdirSync, writeFileSync } from 'node:fs';
import type { Reporter, TestModule } from 'vitest/node';

const seconds = (ms: number) => `${(ms / 1000).toFixed(1).padStart(6)} s`;

/**
 * Where a run's time went, printed after Vitest's own summary and kept in
 * test-results/timings.txt (.ci/run prints it last): every file's duration (its tests and
 * hooks), slowest first, with its project, then the ten slowest tests.
 */
export default class TimingsReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    if (!modules.length) return;
    const files = modules.map((m) => ({ ms: m.diagnostic().duration, line: `${m.project.name.padEnd(4)}  ${m.relativeModuleId}` })).sort((a, b) => b.ms - a.ms);
    const tests = modules
      .flatMap((m) => [...m.children.allTests()].map((t) => ({ ms: t.diagnostic()?.duration ?? 0, line: `${m.relativeModuleId} › ${t.fullName}` })))
      .sort((a, b) => b.ms - a.ms)
      .slice(0, 10);
    const lines = [
      '',
      'Time per file (tests and hooks; files run two at a time):',
      ...files.map((f) => `${seconds(f.ms)}  ${f.line}`),
      '',
      'The ten slowest tests:',
      ...tests.map((t) => `${seconds(t.ms)}  ${t.line}`),
      '',
    ];
    const text = `${lines.join('\n')}\n`;
    process.stdout.write(text);
    mkdirSync('test-results', { recursive: true });
    writeFileSync('test-results/timings.txt', text);
  }
}
