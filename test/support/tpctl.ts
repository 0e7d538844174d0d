import { spawn } from 'node:child_process';
import path from 'node:path';
import { appRoot } from '../../src/shared/app-root.js';

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program to its end, collecting its output: a real process, with exactly the environment given. */
export function runProcess(file: string, args: string[], env: Record<string, string>, options: { stdin?: string; cwd?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env, cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    // A program that exits before reading its input (a refusal) closes the pipe: its exit says what happened.
    child.stdin.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') reject(err);
    });
    child.stdin.end(options.stdin ?? '');
  });
}

/** Runs the built tpctl as an operator would: a real process, its environment, optional standard input. */
export function tpctl(args: string[], env: Record<string, string>, options: { stdin?: string; cwd?: string } = {}): Promise<RunResult> {
  return runProcess(process.execPath, [path.join(appRoot, 'dist', 'cli', 'tpctl.js'), ...args], { PATH: process.env.PATH ?? '', ...env }, options);
}
