import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { appendHistory, formatHistoryLine, parseHistoryLine, readHistory, type HistoryEntry } from '../../../../src/ops/engine/state/history.js';
import { clearJournal, readJournal, recoveryTarget, writeJournal, type Journal } from '../../../../src/ops/engine/state/journal.js';
import { readPreviousVersion, writePreviousVersion } from '../../../../src/ops/engine/state/previous-version.js';
import { tempDir } from '../../../support/temp.js';

/** The state files an operator reads: each has one module that writes and parses it. */

// The lines of the operator guide and docs/operations, as written there.
const GUIDE_LINES = [
  '20260326T100000 1.2.2 -> 1.3.0 SUCCESS log:/var/log/atlas/upgrade-20260326T100000.log',
  '20260326T120000 ROLLBACK 1.3.0 -> 1.2.2 log:/var/log/atlas/rollback-20260326T120000.log',
  '20260326T110000 1.2.2 -> 1.3.1 FAILED log:/var/log/atlas/upgrade-20260326T110000.log',
  '20260326T110009 ROLLBACK 1.3.1 -> 1.2.2 log:/var/log/atlas/upgrade-20260326T110000.log',
  '20260326T130000 ROLLBACK 1.3.0 -> 1.2.2 restored:/var/log/atlas/db-backup-1.2.2-20260326T100000.sql.gz log:/var/log/atlas/rollback-20260326T130000.log',
  '20260326T140000 1.2.2 -> 1.3.0 INTERRUPTED log:/var/log/atlas/upgrade-20260326T140000.log',
  '20260326T150000 ROLLBACK 1.3.0 -> 1.2.2 FAILED log:/var/log/atlas/rollback-20260326T150000.log',
  '20260326T150012 ROLLBACK 1.2.2 -> 1.3.0 FAILED log:/var/log/atlas/rollback-20260326T150000.log',
  '20260326T160000 ROLLBACK 1.3.0 -> 1.2.2 INTERRUPTED log:/var/log/atlas/upgrade-20260326T155900.log',
];

describe('the history (.atlas-upgrade-history)', () => {
  it('parses every line form of the guide and the docs, and writes each back exactly', () => {
    for (const line of GUIDE_LINES) {
      const entry = parseHistoryLine(line);
      expect(entry, line).toBeDefined();
      expect(formatHistoryLine(entry!)).toBe(line);
    }
    expect(parseHistoryLine(GUIDE_LINES[1]!)).toEqual({
      at: '20260326T120000',
      kind: 'rollback',
      from: '1.3.0',
      to: '1.2.2',
      outcome: 'SUCCESS',
      restored: undefined,
      log: '/var/log/atlas/rollback-20260326T120000.log',
    });
  });

  it('round-trips through the file, appended a line at a time', () => {
    const file = path.join(tempDir(), '.atlas-upgrade-history');
    expect(readHistory(file)).toEqual([]);
    const entries = GUIDE_LINES.map((l) => parseHistoryLine(l)!);
    for (const e of entries) appendHistory(file, e);
    expect(readHistory(file)).toEqual(entries);
  });

  it('skips lines an operator added or broke, and keeps the rest', () => {
    const file = path.join(tempDir(), '.atlas-upgrade-history');
    writeFileSync(
      file,
      [
        '# notes by hand',
        GUIDE_LINES[0],
        '20260326T100000 1.2.2 -> $(reboot) SUCCESS log:/x',
        '20260326T100000 1.2.2 -> 1.3.0 log:/x',
        'garbage',
        GUIDE_LINES[1],
      ].join('\n'),
    );
    expect(readHistory(file).map(formatHistoryLine)).toEqual([GUIDE_LINES[0], GUIDE_LINES[1]]);
  });

  it('an entry cannot forge a second line', () => {
    const entry: HistoryEntry = {
      at: '20260326T100000',
      kind: 'upgrade',
      from: '1.2.2',
      to: '1.3.0',
      outcome: 'SUCCESS',
      log: '/var/log/atlas/upgrade.log\n20260326T100001 ROLLBACK 1.3.0 -> 1.2.2 log:/x',
    };
    expect(parseHistoryLine(formatHistoryLine(entry))).toBeUndefined();
  });
});

describe('the journal (.atlas-operation.json)', () => {
  const journal: Omit<Journal, 'pid' | 'host'> = {
    op: 'upgrade',
    from: '1.2.2',
    to: '1.3.0',
    step: 'switch',
    phase: 'forward',
    startedAt: '2026-03-26T10:00:00.000Z',
    log: '/var/log/atlas/upgrade-20260326T100000.log',
    outputs: {},
  };
  /** The journal as a file holds it: its outputs are fields of their own. */
  const { outputs: _outputs, ...onDisk } = journal;

  it('round-trips, naming the process that wrote it; clearing it twice is fine', () => {
    const file = path.join(tempDir(), '.atlas-operation.json');
    const written = writeJournal(file, journal);
    expect(written.pid).toBe(process.pid);
    expect(readJournal(file)).toEqual(JSON.parse(JSON.stringify(written)));
    clearJournal(file);
    clearJournal(file);
    expect(readJournal(file)).toBeUndefined();
  });

  it('leads an upgrade back to where it started, completes a rollback, and completes a way back', () => {
    expect(recoveryTarget({ ...journal, pid: 1, host: 'h' })).toBe('1.2.2');
    expect(recoveryTarget({ ...journal, op: 'rollback', pid: 1, host: 'h' })).toBe('1.3.0');
    expect(recoveryTarget({ ...journal, op: 'rollback', phase: 'way-back', pid: 1, host: 'h' })).toBe('1.2.2');
  });

  it('reads a journal of an earlier release (no phase) as written on the way forward', () => {
    const file = path.join(tempDir(), '.atlas-operation.json');
    writeFileSync(file, JSON.stringify({ ...onDisk, phase: undefined, pid: 10, host: 'h' }));
    expect(readJournal(file)?.phase).toBe('forward');
  });

  it.each([
    ['not JSON', '{"op":'],
    ['a list', '[]'],
    ['a version that is a command', JSON.stringify({ ...onDisk, to: '$(reboot)', pid: 1, host: 'h' })],
    ['an unknown step', JSON.stringify({ ...onDisk, step: 'rm -rf', pid: 1, host: 'h' })],
    ['a pid that is not a number', JSON.stringify({ ...onDisk, pid: '1', host: 'h' })],
  ])('refuses one that is %s, saying what to do', (_what, content) => {
    const file = path.join(tempDir(), '.atlas-operation.json');
    writeFileSync(file, content);
    expect(() => readJournal(file)).toThrow(/does not describe an operation \(it may have been edited\)/);
  });

  it('keeps the outputs a recovery needs as fields of their own, as earlier releases wrote `restored`; an output that is not text is refused', () => {
    const file = path.join(tempDir(), '.atlas-operation.json');
    writeJournal(file, { ...journal, outputs: { restored: '/backups/db-backup-1.2.2.sql.gz', backup: undefined } });
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ restored: '/backups/db-backup-1.2.2.sql.gz', step: 'switch' });
    expect(readJournal(file)?.outputs).toEqual({ restored: '/backups/db-backup-1.2.2.sql.gz' });
    writeFileSync(file, JSON.stringify({ ...onDisk, restored: { $: 'x' }, pid: 1, host: 'h' }));
    expect(() => readJournal(file)).toThrow(/does not describe an operation/);
  });
});

describe('the previous version (.atlas-previous-version)', () => {
  it('round-trips as one line, as the guide shows it', () => {
    const file = path.join(tempDir(), '.atlas-previous-version');
    writePreviousVersion(file, '1.2.2');
    expect(readPreviousVersion(file)).toBe('1.2.2');
  });

  it.each(['', 'latest\n', '1.2.2; reboot\n'])('a file holding %j names no version', (content) => {
    const file = path.join(tempDir(), '.atlas-previous-version');
    writeFileSync(file, content);
    expect(readPreviousVersion(file)).toBeUndefined();
  });

  it('a file that cannot be read is an error, not a missing version', () => {
    const file = path.join(tempDir(), '.atlas-previous-version');
    mkdirSync(file);
    expect(() => readPreviousVersion(file)).toThrow(/is not a regular file: refused/);
  });
});
