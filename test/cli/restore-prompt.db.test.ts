import { existsSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { appRoot } from '../../src/shared/app-root.js';
import { createBackup, setAsideCopies, setUp, type Kind, type Setup } from '../support/backup-setup.js';
import { runProcess, tpctl } from '../support/tpctl.js';

/** tpctl on a terminal: script(1) gives it one, and types `typed` into it. */
const onTerminal = (setup: Setup, args: string[], typed: string) =>
  runProcess(
    'script',
    ['-qec', [process.execPath, path.join(appRoot, 'dist', 'cli', 'tpctl.js'), ...args].join(' '), '/dev/null'],
    { PATH: process.env.PATH ?? '', ...setup.env },
    { stdin: typed },
  );

describe.each(['postgres', 'embedded'] as Kind[])('a restore on a terminal, on %s, shows what it would discard and asks first', (kind) => {
  let setup: Setup;
  let backup: string;
  beforeAll(async () => {
    setup = await setUp(kind);
    backup = await createBackup(setup);
  });

  it('"n" (or anything but yes): nothing changes, exit 2', async () => {
    for (const typed of ['n\n', '\n', 'later\n']) {
      const res = await onTerminal(setup, ['restore', backup], typed);
      expect(res.code, res.stdout).toBe(2);
      expect(res.stdout).toMatch(/since the backup: 0 rows created \(discarded\), 0 changed .*, in 0 of \d+ tables/);
      expect(res.stdout).toContain(`restore ${backup} over the current data? [y/N]`);
      expect(res.stdout).toContain('not restored: the answer was not yes; nothing was changed');
      expect(await setAsideCopies(kind, setup)).toEqual([]);
    }
  });

  it('"y": restored, the data from before set aside', async () => {
    const res = await onTerminal(setup, ['restore', backup], 'y\n');
    expect(res.code, res.stdout).toBe(0);
    expect(res.stdout).toContain('over the current data? [y/N]');
    expect(res.stdout).toMatch(/restored \S+: \d+ tables/);
    expect(await setAsideCopies(kind, setup)).toHaveLength(1);
  });

  it('--yes on a terminal, and any run without one, do not ask', async () => {
    const yes = await onTerminal(setup, ['restore', backup, '--yes'], '');
    expect(yes.code, yes.stdout).toBe(0);
    expect(yes.stdout).not.toContain('[y/N]');
    const piped = await tpctl(['restore', backup], setup.env, { stdin: 'n\n' });
    expect(piped.code, piped.stderr).toBe(0);
    expect(piped.stderr + piped.stdout).not.toContain('[y/N]');
    expect(existsSync(backup)).toBe(true);
  });
});
