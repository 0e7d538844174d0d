import { chmodSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { appendHistory } from '../../src/ops/engine/state/history.js';
import { RunLogFile } from '../../src/ops/engine/state/run-log.js';
import { writePreviousVersion } from '../../src/ops/engine/state/previous-version.js';
import { appendText, readJsonFile, readTextIfPresent, refuseUnsafeDir, UnsafePathError, writeFileAtomic } from '../../src/shared/files.js';
import { tempDir } from '../support/temp.js';
import { tpctl } from '../support/tpctl.js';

/** A data directory whose writer is not trusted, and a file outside it that must stay as it is. */
function planted() {
  const data = tempDir();
  const victim = path.join(tempDir(), 'victim');
  writeFileSync(victim, 'precious\n');
  return { data, victim, unchanged: () => expect(readFileSync(victim, 'utf8')).toBe('precious\n') };
}

describe('state files no link can redirect', () => {
  it('an atomic write uses a temporary name nobody can predict, and never writes through a link planted for it', () => {
    const { data, victim, unchanged } = planted();
    const file = path.join(data, '.atlas-previous-version');
    // The names the old writer used (.name.<pid>.tmp), for a spray of pids: links to the victim.
    for (let pid = process.pid - 50; pid < process.pid + 50; pid++) symlinkSync(victim, path.join(data, `.atlas-previous-version.${pid}.tmp`));
    writePreviousVersion(file, '1.2.2');
    expect(readFileSync(file, 'utf8')).toBe('1.2.2\n');
    unchanged();
    expect(readdirSync(data).filter((n) => !n.endsWith('.tmp'))).toEqual(['.atlas-previous-version']);
  });

  it('a write over a link replaces the link, not its target', () => {
    const { data, victim, unchanged } = planted();
    const file = path.join(data, 'journal.json');
    symlinkSync(victim, file);
    writeFileAtomic(file, '{}\n');
    expect(readFileSync(file, 'utf8')).toBe('{}\n');
    unchanged();
  });

  it('the history, a run log and any append refuse a link, and leave its target as it was', () => {
    const { data, victim, unchanged } = planted();
    const history = path.join(data, '.atlas-upgrade-history');
    symlinkSync(victim, history);
    const entry = { at: '2026-12-05 01:00:00', kind: 'upgrade', from: '1.2.2', to: '1.3.0', outcome: 'SUCCESS', log: 'x.log' } as const;
    expect(() => appendHistory(history, entry)).toThrow(UnsafePathError);
    const log = path.join(data, 'upgrade-20261205T010000.log');
    symlinkSync(victim, log);
    expect(() => new RunLogFile(log, []).write('a line')).toThrow(/is a symbolic link: refused/);
    expect(() => appendText(path.join(data, 'a'), 'x')).not.toThrow();
    unchanged();
  });

  it('reads refuse a link and anything but a regular file; a missing file is undefined', () => {
    const { data, victim } = planted();
    const link = path.join(data, 'local-runtime.log');
    symlinkSync(victim, link);
    expect(() => readTextIfPresent(link)).toThrow(/local-runtime\.log is a symbolic link: refused/);
    expect(() => readJsonFile(link)).toThrow(UnsafePathError);
    mkdirSync(path.join(data, 'dir'));
    expect(() => readTextIfPresent(path.join(data, 'dir'))).toThrow(/is not a regular file: refused/);
    expect(readTextIfPresent(path.join(data, 'missing'))).toBeUndefined();
  });
});

describe.runIf(process.getuid?.() === 0)('directories tpctl keeps state in, as root', () => {
  it('a data or log directory that is a link, or that others may write, is refused (exit 2); its own 0750 directory is not', async () => {
    const real = tempDir();
    const link = path.join(tempDir(), 'data');
    symlinkSync(real, link);
    expect(() => refuseUnsafeDir(link, 'data directory')).toThrow(/is a symbolic link: refused when running as root/);
    const res = await tpctl(['history'], { ATLAS_DATA_DIR: link });
    expect(res.stderr).toContain(`the data directory (ATLAS_DATA_DIR) ${link} is a symbolic link: refused when running as root`);
    expect(res.code).toBe(2);

    const open = tempDir();
    chmodSync(open, 0o777);
    const logs = await tpctl(['backup', 'list'], { ATLAS_DATA_DIR: real, ATLAS_LOG_DIR: open });
    expect(logs.stderr).toContain(`may be written by others than its owner (mode 777): refused when running as root; chmod go-w ${open}`);
    expect(logs.code).toBe(2);

    chmodSync(open, 0o750);
    expect(() => refuseUnsafeDir(open, 'log directory')).not.toThrow();
  });
});
