import { spawn } from 'node:child_process';
import type { RunbookSpec } from './config.js';
import { outputText } from './output-text.js';

export interface RunbookResult {
  status: 'succeeded' | 'failed' | 'timed_out' | 'refused';
  exitCode: number | null;
  output: string;
  outputTruncated: boolean;
  error?: string;
}

/**
 * Runs a runbook the agent's own configuration defines (anything else is refused: the Tenant
 * Plane can only name runbooks, never commands). Output (stdout and stderr, interleaved) is kept
 * up to the limit; past its timeout the runbook's whole process group is killed.
 */
export function runRunbook(name: string, spec: RunbookSpec | undefined, outputLimit: number): Promise<RunbookResult> {
  if (!spec) {
    return Promise.resolve({
      status: 'refused',
      exitCode: null,
      output: '',
      outputTruncated: false,
      error: `runbook "${name}" is not defined in this agent's configuration; it was not run`,
    });
  }
  return new Promise((resolve) => {
    const [program, ...args] = spec.command;
    const child = spawn(program!, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const chunks: Buffer[] = [];
    let kept = 0;
    let truncated = false;
    let timedOut = false;
    const collect = (data: Buffer) => {
      if (kept >= outputLimit) {
        truncated = true;
        return;
      }
      const part = data.subarray(0, outputLimit - kept);
      if (part.length < data.length) truncated = true;
      chunks.push(part);
      kept += part.length;
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, spec.timeoutSeconds * 1000);
    child.once('error', (err) => {
      clearTimeout(timer);
      resolve({ status: 'failed', exitCode: null, output: '', outputTruncated: false, error: `could not start ${program}: ${err.message}` });
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      const output = outputText(Buffer.concat(chunks));
      if (timedOut) {
        resolve({ status: 'timed_out', exitCode: null, output, outputTruncated: truncated, error: `killed after its timeout of ${spec.timeoutSeconds} s` });
      } else {
        resolve({ status: code === 0 ? 'succeeded' : 'failed', exitCode: code, output, outputTruncated: truncated });
      }
    });
  });
}
