import { describe, expect, it } from 'vitest';
import { sinceBackupLines, type SinceBackup } from '../../../src/ops/backup/since-backup.js';

const none: { created: string[]; changed: string[]; deleted: string[] } = { created: [], changed: [], deleted: [] };
const compared = (table: string, created: number, changed: number, deleted: number, keys = none, columnsNotInBackup: string[] = []) =>
  ({ table, kind: 'compared', created, changed, deleted, columnsNotInBackup, keys }) as const;

describe('what a restore discards, as the operator reads it', () => {
  it('says first, in one line, what is lost and what comes back; names the unchanged tables instead of listing each', () => {
    const since: SinceBackup = {
      tables: [
        compared('public.agents', 0, 0, 0),
        compared('public.incidents', 3, 1, 0, { created: ['7', '8', '9'], changed: ['2'], deleted: [] }),
        compared('public.settings', 0, 0, 2, { created: [], changed: [], deleted: ['a', 'b'] }),
        compared('public.users', 0, 0, 0),
        { table: 'public.extra', kind: 'not-in-backup', rows: 4 },
      ],
      carried: undefined,
      compareMs: 1,
      carryMs: 0,
    };
    expect(sinceBackupLines(since)).toEqual([
      "since the backup: 3 rows created (discarded), 1 changed (the backup's values come back), 2 deleted (they come back), 4 in tables the backup does not have (discarded), in 3 of 5 tables",
      'unchanged since the backup: public.agents, public.users',
      'public.incidents: 3 created, 1 changed, 0 deleted since the backup',
      "  changed (the backup's values are restored): 2",
      'public.settings: 0 created, 0 changed, 2 deleted since the backup',
      '  deleted (they come back): a, b',
      'public.extra: not in the backup: its 4 rows are discarded',
    ]);
  });

  it('with the rows created since carried, says how many are kept and how many are still discarded', () => {
    const since: SinceBackup = {
      tables: [compared('public.incidents', 3, 0, 0, { created: ['7', '8', '9'], changed: [], deleted: [] }), compared('public.sessions', 2, 0, 0)],
      carried: [
        { table: 'public.incidents', carried: 3, columnsLeftBehind: [], leftOut: [], sequences: {} },
        { table: 'public.sessions', carried: 0, columnsLeftBehind: [], leftOut: [], sequences: {}, neverCarried: 'sign-ins end with a restore' },
      ],
      compareMs: 1,
      carryMs: 1,
    };
    expect(sinceBackupLines(since).slice(0, 1)).toEqual([
      "since the backup: 5 rows created (3 carried over, 2 discarded), 0 changed (the backup's values come back), 0 deleted (they come back), in 2 of 2 tables",
    ]);
    expect(sinceBackupLines(since)).toContain('  not carried: sign-ins end with a restore');
  });

  it('a restore into an empty database has nothing to say', () => {
    expect(sinceBackupLines({ tables: [], carried: undefined, compareMs: 0, carryMs: 0 })).toEqual([]);
  });
});
