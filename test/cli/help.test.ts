import { describe, expect, it } from 'vitest';
import { tpctl } from '../support/tpctl.js';

/** The commands `tpctl` lists: the lines under "Commands:" of its overview. */
async function listed(): Promise<string[]> {
  const { stdout } = await tpctl(['--help'], {});
  return [...stdout.matchAll(/^ {2}([a-z-]+(?: [a-z-]+)?) {2,}/gm)].map((m) => m[1]!);
}

describe('tpctl --help', () => {
  it("explains every command it lists (alone it lists them, exit 2), and every tpctl command a help text names answers that command's --help", async () => {
    const bare = await tpctl([], {});
    expect(bare.code).toBe(2);
    const commands = await listed();
    expect(bare.stdout).toBe((await tpctl(['--help'], {})).stdout);
    expect(commands).toContain('backup rotate-key');
    const named = new Set<string>();
    for (const name of commands) {
      const help = await tpctl([...name.split(' '), '--help'], {});
      expect({ name, code: help.code, stderr: help.stderr }).toEqual({ name, code: 0, stderr: '' });
      expect(help.stdout).toMatch(new RegExp(`^Usage: tpctl ${name}`));
      // One to three real examples, each a command line of this command (a script may prepare it).
      const examples = /\nExamples:\n((?: {2}\S.*\n?)+)$/.exec(help.stdout)?.[1]?.trimEnd().split('\n') ?? [];
      expect(examples.length, `${name}: ${help.stdout}`).toBeGreaterThanOrEqual(1);
      expect(examples.length, name).toBeLessThanOrEqual(3);
      expect(examples.filter((e) => e.includes(`tpctl ${name}`)).length, name).toBeGreaterThanOrEqual(1);
      for (const m of help.stdout.matchAll(/\btpctl ([a-z][a-z-]*(?: [a-z][a-z-]*)?)/g)) named.add(m[1]!);
    }
    expect(named).toContain('local'); // "see tpctl local --help"
    for (const words of named) {
      const help = await tpctl([...words.split(' '), '--help'], {});
      expect({ words, code: help.code, stderr: help.stderr }).toEqual({ words, code: 0, stderr: '' });
    }
  });

  it('lists the commands under a word that groups them: with --help exit 0, alone exit 2 (a command is missing); an unknown one names the group help', async () => {
    const backup = await tpctl(['backup'], {});
    expect(backup.code).toBe(2);
    expect(backup.stdout).toMatch(/^Usage: tpctl backup <command>/);
    expect(backup.stdout.match(/^ {2}backup \S+/gm)).toEqual([
      '  backup create',
      '  backup list',
      '  backup verify',
      '  backup drill',
      '  backup sign',
      '  backup rotate-key',
    ]);
    const local = await tpctl(['local', '-h'], {});
    expect(local.code).toBe(0);
    expect(local.stdout.match(/^ {2}local \S+/gm)).toEqual(['  local start', '  local stop', '  local run']);
    for (const [args, message] of [
      [['backup', 'frobnicate'], 'tpctl: unknown command "backup frobnicate"; see tpctl backup --help\n'],
      [['backup', '--help', 'extra'], 'tpctl: unknown command "backup --help"; see tpctl backup --help\n'],
      [['frobnicate', '--help'], 'tpctl: unknown command "frobnicate --help"; see tpctl --help\n'],
    ] as const) {
      const res = await tpctl([...args], {});
      expect({ code: res.code, stdout: res.stdout, stderr: res.stderr }).toEqual({ code: 2, stdout: '', stderr: message });
    }
  });
});
