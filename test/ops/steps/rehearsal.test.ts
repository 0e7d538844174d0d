import { describe, expect, it } from 'vitest';
import { Refused } from '../../../src/ops/core/errors.js';
import { parseMigrateAnswer, rehearsalLine } from '../../../src/ops/steps/rehearsal.js';

describe("the target's migrate up --json, read as hostile input", () => {
  it('takes the migrations it applied, each timed, with its lock or none', () => {
    const timings = [
      { name: '0900_incident_priority.sql', durationMs: 12, lock: { mode: 'ACCESS EXCLUSIVE', relation: 'incidents', heldMs: 9 } },
      { name: '0901_index.sql', durationMs: 40, lock: null },
    ];
    expect(parseMigrateAnswer(JSON.stringify({ appliedNow: ['0900_incident_priority.sql'], timings, pending: [] }), '1.3.0')).toEqual(timings);
    expect(parseMigrateAnswer(JSON.stringify({ timings: [] }), '1.3.0')).toEqual([]);
  });

  it.each([
    ['not JSON', 'Error: something else'],
    ['no timings (a release before they were reported)', JSON.stringify({ appliedNow: [] })],
    ['timings not a list', JSON.stringify({ timings: { name: 'x' } })],
    ['a name not text', JSON.stringify({ timings: [{ name: 7, durationMs: 1, lock: null }] })],
    ['a duration not whole', JSON.stringify({ timings: [{ name: 'x', durationMs: 1.5, lock: null }] })],
    ['a lock without its mode', JSON.stringify({ timings: [{ name: 'x', durationMs: 1, lock: { relation: 'incidents', heldMs: 1 } }] })],
    ['a lock held for ever', JSON.stringify({ timings: [{ name: 'x', durationMs: 1, lock: { mode: 'ACCESS EXCLUSIVE', relation: 't', heldMs: 1e300 } }] })],
  ])('refuses %s', (_what, answer) => {
    expect(() => parseMigrateAnswer(answer, '1.3.0')).toThrow(Refused);
    expect(() => parseMigrateAnswer(answer, '1.3.0')).toThrow("1.3.0's tpctl migrate up --json answered something else than the migrations it applied");
  });
});

describe("the rehearsal's line", () => {
  const journey = { passed: 7, total: 7, checks: [] };
  const copy = { backup: '/var/log/atlas/db-backup-1.2.2-20261206T010000.sql.gz', database: 'atlas_rehearsal_x', ms: 4100, tables: 16, rows: 3_000_000 };
  const migrations = {
    ms: 800,
    timings: [],
    longestLock: { mode: 'ACCESS EXCLUSIVE', relation: 'incidents', heldMs: 120, migration: '0900' },
    limitMs: 1000,
    overLimit: false,
  };

  it('an upgrade: the restore, the migrations with the longest lock (in ms, or s from a second on), the start, the journey', () => {
    expect(rehearsalLine({ version: '1.3.0', copy, migrations, healthyMs: 1900, journey })).toBe(
      'rehearsal: backup restored in 4.1 s (row counts match), migrations 0.8 s (longest lock: ACCESS EXCLUSIVE on incidents, 120 ms), 1.3.0 healthy on the copy in 1.9 s, journey 7/7',
    );
    const long = { ...migrations, longestLock: { ...migrations.longestLock, heldMs: 2500 }, overLimit: true };
    expect(rehearsalLine({ version: '1.3.0', copy, migrations: long, healthyMs: 1900, journey })).toContain(
      '(longest lock: ACCESS EXCLUSIVE on incidents, 2.5 s, over the 1000 ms limit)',
    );
    expect(rehearsalLine({ version: '1.3.0', copy, migrations: { ...migrations, longestLock: null }, healthyMs: 1900, journey })).toContain(
      'migrations 0.8 s (no lock on an existing table)',
    );
  });

  it('a rollback: the live data copied, no migrations', () => {
    expect(rehearsalLine({ version: '1.2.2', copy: { ...copy, backup: 'the live data' }, migrations: null, healthyMs: 900, journey })).toBe(
      'rehearsal: the live data copied in 4.1 s (row counts match), 1.2.2 healthy on the copy in 0.9 s, journey 7/7',
    );
  });
});
