import { once } from 'node:events';
import { createInterface } from 'node:readline';
import type { ChildProcess } from 'node:child_process';
import { CommandError, type Command, type CommandResult, type Executor } from '../core/exec.js';

/**
 * One psql process kept open to run SQL handed to it piece by piece. After each piece it
 * selects a marker, and psql prints results as each statement ends, so the marker's line on
 * its output says the piece is done. psql stops at the first error (ON_ERROR_STOP).
 */
export class PsqlSession {
  private readonly child: ChildProcess;
  private readonly ended: Promise<never>;
  private output: string[] = [];
  private waiting: { marker: string; resolve: (lines: string[]) => void } | undefined;
  private pieces = 0;

  constructor(exec: Executor, command: Command) {
    const { child, done } = exec.stream(command);
    this.child = child;
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line !== this.waiting?.marker) return void this.output.push(line);
      this.waiting.resolve(this.output);
      this.waiting = undefined;
      this.output = [];
    });
    this.ended = done.then((result: CommandResult) => {
      throw result.code === 0 ? new CommandError('psql ended before its work was done', command.argv, result) : exec.failure(command, result);
    });
    this.ended.catch(() => {});
  }

  /** Runs the SQL in `parts` (strings and raw COPY rows); resolves with what psql printed. */
  async run(parts: readonly (string | Buffer)[]): Promise<string[]> {
    const marker = `atlas-piece-done-${++this.pieces}`;
    const printed = new Promise<string[]>((resolve) => (this.waiting = { marker, resolve }));
    const stdin = this.child.stdin!;
    for (const part of [...parts, `\nSELECT '${marker}';\n`]) {
      // A pipe that breaks (EPIPE) broke because psql ended: how it ended says why.
      if (!stdin.write(part)) await Promise.race([once(stdin, 'drain').catch(() => this.ended), this.ended]);
    }
    return Promise.race([printed, this.ended]);
  }

  /** Ends the session: psql exits when its input ends. */
  async close(): Promise<void> {
    this.child.stdin!.end();
    await this.ended.catch(() => {});
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }
}
