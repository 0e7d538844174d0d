import { describe, expect, it } from 'vitest';
import { CommandError, Executor } from '../../../src/ops/core/exec.js';

describe('Executor', () => {
  const lines: string[] = [];
  const exec = new Executor({ write: (line) => lines.push(line) }, ['s3cret']);

  it('gives a command without input an empty standard input, so nothing waits on it', async () => {
    const result = await exec.run({ argv: ['cat'], timeoutMs: 5_000 });
    expect(result).toMatchObject({ code: 0, signal: null, stdout: '' });
  });

  it('feeds the input it is given', async () => {
    const result = await exec.run({ argv: ['cat'], input: 'hello\n' });
    expect(result.stdout).toBe('hello\n');
  });

  it('reports the exit status of a command that exits without reading its input', async () => {
    // 8 MB is far more than a pipe holds, so the write meets a closed pipe (EPIPE).
    const result = await exec.run({ argv: ['sh', '-c', 'echo too old >&2; exit 3'], input: 'x'.repeat(8 << 20) });
    expect(result).toMatchObject({ code: 3, stderr: 'too old\n' });
  });

  it('fails with the command, its status and its last error lines, secrets redacted', async () => {
    const failed = exec.check({ argv: ['sh', '-c', 'echo "password s3cret refused" >&2; exit 2', 's3cret'] });
    await expect(failed).rejects.toBeInstanceOf(CommandError);
    await expect(failed).rejects.toThrow(/exited with 2: password \*+ refused$/);
    expect(lines.join('\n')).not.toContain('s3cret');
  });

  it('kills a command that outlives its timeout', async () => {
    const result = await exec.run({ argv: ['sleep', '10'], timeoutMs: 200 });
    expect(result).toMatchObject({ code: null, signal: 'SIGKILL' });
    expect(lines.at(-1)).toMatch(/killed by SIGKILL \(timed out\)/);
  });

  it('says when a program is not installed', async () => {
    await expect(exec.run({ argv: ['atlas-no-such-program'] })).rejects.toThrow('atlas-no-such-program is not installed (not found on PATH)');
  });
});
