import { mkdirSync, writeFileSync } from 'node:fs';
import type { Reporter, SerializedError, TestModule } from 'vitest/node';

const seconds = (ms: number) => `${(ms / 1000).toFixed(1).padStart(6)} s`;

/** An error's first line, enough to name it where only the tail of a CI log is kept. */
const firstLine = (error: SerializedError) => String(error.message).split('\n', 1)[0]?.slice(0, 400) ?? '';

/** What failed, each as where › what: tests, hooks and collection of whole files and suites, and errors outside any test. */
function failures(modules: ReadonlyArray<TestModule>, unhandled: ReadonlyArray<SerializedError>): string[] {
  return [
    ...modules.flatMap((m) => [
      ...[m, ...m.children.allSuites()].flatMap((s) =>
        s.errors().map((e) => `${m.relativeModuleId} › ${s.type === 'module' ? '(the file)' : s.fullName}: ${firstLine(e)}`),
      ),
      ...[...m.children.allTests('failed')].flatMap((t) => (t.result().errors ?? []).map((e) => `${m.relativeModuleId} › ${t.fullName}: ${firstLine(e)}`)),
    ]),
    ...unhandled.map((e) => `outside any test: ${firstLine(e)}`),
  ];
}

/**
 * Where a run's time went, printed after Vitest's own summary and kept in
 * test-results/timings.txt (.ci/run prints it last): every file's duration (its tests and
 * hooks), slowest first, with its project, then the ten slowest tests, then what failed, if
 * anything did, so that the last lines of a CI log name it.
 */
export default class TimingsReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<SerializedError>): void {
    if (!modules.length) return;
    const files = modules.map((m) => ({ ms: m.diagnostic().duration, line: `${m.project.name.padEnd(4)}  ${m.relativeModuleId}` })).sort((a, b) => b.ms - a.ms);
    const tests = modules
      .flatMap((m) => [...m.children.allTests()].map((t) => ({ ms: t.diagnostic()?.duration ?? 0, line: `${m.relativeModuleId} › ${t.fullName}` })))
      .sort((a, b) => b.ms - a.ms)
      .slice(0, 10);
    const failed = failures(modules, unhandledErrors);
    const lines = [
      '',
      'Time per file (tests and hooks; files run two at a time):',
      ...files.map((f) => `${seconds(f.ms)}  ${f.line}`),
      '',
      'The ten slowest tests:',
      ...tests.map((t) => `${seconds(t.ms)}  ${t.line}`),
      ...(failed.length ? ['', `Failed (${failed.length}):`, ...failed.map((f) => `  ${f}`)] : []),
      '',
    ];
    const text = `${lines.join('\n')}\n`;
    process.stdout.write(text);
    mkdirSync('test-results', { recursive: true });
    writeFileSync('test-results/timings.txt', text);
  }
}
