import { spawn, type ChildProcess } from 'node:child_process';
import { redactSecrets } from '../../shared/redact.js';

/** A command as data: what runtime drivers and tools build, and the executor runs. */
export interface Command {
  argv: readonly string[];
  /** Added to the environment (undefined removes a variable). Secrets (PGPASSWORD) travel here, never in argv. */
  env?: Record<string, string | undefined>;
  input?: string;
  timeoutMs?: number;
  cwd?: string;
}

export interface CommandResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  durationMs: number;
}

/** Where the executor writes what it ran: the run log of an upgrade or rollback. */
export interface RunLog {
  write(line: string): void;
}

export class CommandError extends Error {
  constructor(
    message: string,
    readonly argv: readonly string[],
    readonly result: CommandResult | undefined,
  ) {
    super(message);
  }
}

/** The last lines of a command's error output, for an error message. */
export function tail(text: string, lines = 5): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

/**
 * The one place commands run: each is timed, written to the run log with secrets redacted,
 * and a failure becomes a CommandError that says which command and why.
 */
export class Executor {
  constructor(
    readonly log: RunLog | undefined,
    private readonly secrets: readonly string[],
  ) {}

  redact(text: string): string {
    return redactSecrets(text, this.secrets);
  }

  private describe(argv: readonly string[]): string {
    return this.redact(argv.map((a) => (/^[\w./:=@%+,-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`)).join(' '));
  }

  private start(command: Command, stdin: 'pipe' | 'ignore'): ChildProcess {
    const [file, ...args] = command.argv;
    if (!file) throw new Error('empty command');
    this.log?.write(`$ ${this.describe(command.argv)}`);
    const child = spawn(file, args, {
      cwd: command.cwd,
      env: { ...process.env, ...command.env },
      stdio: [stdin, 'pipe', 'pipe'],
    });
    // A command may exit without reading all its input (EPIPE): its exit status says what happened.
    child.stdin?.on('error', () => {});
    return child;
  }

  private finish(command: Command, child: ChildProcess, capture: boolean): Promise<CommandResult> {
    const started = performance.now();
    let stdout = '';
    let stderr = '';
    if (capture) child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-64 * 1024)));
    const timer = command.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), command.timeoutMs) : undefined;
    return new Promise((resolve, reject) => {
      child.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        const what = command.argv[0] ?? '';
        const message = err.code === 'ENOENT' ? `${what} is not installed (not found on PATH)` : `${what} could not start: ${err.message}`;
        this.log?.write(`  ! ${message}`);
        reject(new CommandError(message, command.argv, undefined));
      });
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        const result = { code, signal, stdout: this.redact(stdout), stderr: this.redact(stderr), durationMs: Math.round(performance.now() - started) };
        const outcome = code === 0 ? 'ok' : signal ? `killed by ${signal}${timer && signal === 'SIGKILL' ? ' (timed out)' : ''}` : `exit ${code}`;
        this.log?.write(`  → ${outcome} in ${result.durationMs} ms${code === 0 || !result.stderr ? '' : `\n${indent(tail(result.stderr, 20))}`}`);
        resolve(result);
      });
    });
  }

  /** Runs a command to completion, capturing its output. */
  async run(command: Command): Promise<CommandResult> {
    const child = this.start(command, command.input === undefined ? 'ignore' : 'pipe');
    child.stdin?.end(command.input);
    return this.finish(command, child, true);
  }

  /** Runs a command and fails with CommandError unless it exits 0. */
  async check(command: Command): Promise<CommandResult> {
    const result = await this.run(command);
    if (result.code !== 0) throw this.failure(command, result);
    return result;
  }

  /** Starts a command whose standard input/output the caller streams; `done` settles when it exits. */
  stream(command: Command): { child: ChildProcess; done: Promise<CommandResult> } {
    const child = this.start(command, 'pipe');
    return { child, done: this.finish(command, child, false) };
  }

  failure(command: Command, result: CommandResult): CommandError {
    const how = result.signal ? `was killed by ${result.signal}` : `exited with ${result.code}`;
    const detail = tail(result.stderr) || tail(result.stdout);
    return new CommandError(`${this.describe(command.argv)} ${how}${detail ? `: ${detail}` : ''}`, command.argv, result);
  }
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
}
