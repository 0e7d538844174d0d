import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { appRoot } from '../../src/shared/app-root.js';
import { tempDir } from '../support/temp.js';
import { runProcess, tpctl } from '../support/tpctl.js';

/** A deployment on the embedded database, with one backup of it. */
const dir = tempDir('atlas-restore-prompt-');
const env = { ATLAS_DATA_DIR: path.join(dir, 'data'), ATLAS_LOG_DIR: path.join(dir, 'logs') };
let backup: string;

/** tpctl on a terminal: script(1) gives it one, and types `typed` into it. */
const onTerminal = (args: string[], typed: string) =>
  runProcess(
    'script',
    ['-qec', [process.execPath, path.join(appRoot, 'dist', 'cli', 'tpctl.js'), ...args].join(' '), '/dev/null'],
    { PATH: process.env.PATH ?? '', ...env },
    { stdin: typed, cwd: dir },
  );

/** The copies a restore sets aside beside the embedded database: one per restore that swapped. */
const setAside = () => readdirSync(env.ATLAS_DATA_DIR).filter((n) => n.startsWith('pglite.pre-restore-'));

beforeAll(async () => {
  expect((await tpctl(['migrate', 'up'], env)).code).toBe(0);
  const made = await tpctl(['backup', 'create', '--json'], env);
  backup = (JSON.parse(made.stdout) as { file: string }).file;
});

describe('a restore on a terminal shows what it would discard and asks first', () => {
  it('"n" (or anything but yes): nothing changes, exit 2', async () => {
    for (const typed of ['n\n', '\n', 'later\n']) {
      const res = await onTerminal(['restore', backup], typed);
      expect(res.code, res.stdout).toBe(2);
      expect(res.stdout).toMatch(/since the backup: 0 rows created \(discarded\), 0 changed .*, in 0 of \d+ tables/);
      expect(res.stdout).toContain(`restore ${backup} over the current data? [y/N]`);
      expect(res.stdout).toContain('not restored: the answer was not yes; nothing was changed');
      expect(setAside()).toEqual([]);
    }
  });

  it('"y": restored, the data from before set aside', async () => {
    const res = await onTerminal(['restore', backup], 'y\n');
    expect(res.code, res.stdout).toBe(0);
    expect(res.stdout).toContain('over the current data? [y/N]');
    expect(res.stdout).toMatch(/restored \S+: \d+ tables/);
    expect(setAside()).toHaveLength(1);
  });

  it('--yes on a terminal, and any run without one, do not ask', async () => {
    const yes = await onTerminal(['restore', backup, '--yes'], '');
    expect(yes.code, yes.stdout).toBe(0);
    expect(yes.stdout).not.toContain('[y/N]');
    const piped = await tpctl(['restore', backup], env, { stdin: 'n\n' });
    expect(piped.code, piped.stderr).toBe(0);
    expect(piped.stderr + piped.stdout).not.toContain('[y/N]');
    expect(existsSync(backup)).toBe(true);
  });
});
