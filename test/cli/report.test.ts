import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { RunReporter, runsOfHistory } from '../../src/cli/report.js';
import { parseHistoryLine, type HistoryEntry } from '../../src/ops/engine/state/history.js';
import type { LifecycleOutcome } from '../../src/ops/steps/outputs.js';

const history = (...lines: string[]) => lines.map((l) => parseHistoryLine(l)!);

describe('the runs of the history, as tpctl reports them again', () => {
  it('one run per stamp: an upgrade whose ROLLBACK line follows it was rolled back, or needs a human if that failed too', () => {
    expect(
      runsOfHistory(
        history(
          '20261206T100000 1.2.2 -> 1.3.0 SUCCESS log:/l/upgrade-20261206T100000.log',
          '20261206T110000 1.3.0 -> 1.4.0 FAILED log:/l/upgrade-20261206T110000.log',
          '20261206T110000 ROLLBACK 1.4.0 -> 1.3.0 log:/l/upgrade-20261206T110000.log',
          '20261206T120000 1.3.0 -> 1.4.0 FAILED log:/l/upgrade-20261206T120000.log',
          '20261206T120000 ROLLBACK 1.4.0 -> 1.3.0 FAILED log:/l/upgrade-20261206T120000.log',
          '20261206T130000 ROLLBACK 1.3.0 -> 1.2.2 INTERRUPTED log:/l/rollback-20261206T130000.log',
        ),
      ).map((r) => [r.id, r.kind, r.from, r.to, r.state, r.startedAt]),
    ).toEqual([
      ['20261206T100000', 'upgrade', '1.2.2', '1.3.0', 'succeeded', '2026-12-06T10:00:00.000Z'],
      ['20261206T110000', 'upgrade', '1.3.0', '1.4.0', 'rolled-back', '2026-12-06T11:00:00.000Z'],
      ['20261206T120000', 'upgrade', '1.3.0', '1.4.0', 'needs-human', '2026-12-06T12:00:00.000Z'],
      ['20261206T130000', 'rollback', '1.3.0', '1.2.2', 'interrupted', '2026-12-06T13:00:00.000Z'],
    ]);
  });
});

describe('the reporter', () => {
  type Body = { operations?: Record<string, unknown>[]; backups?: Record<string, unknown>[] };
  const told: { path: string; body: Body }[] = [];
  const logDir = mkdtempSync(path.join(os.tmpdir(), 'atlas-report-'));
  writeFileSync(path.join(logDir, 'db-backup-1.2.2-20261206T095900.sql.gz'), 'not really gzip');
  const past: HistoryEntry[] = history('20261205T100000 1.2.1 -> 1.2.2 SUCCESS log:/l/upgrade-20261205T100000.log');
  const run = { id: '20261206T100000', log: '/l/upgrade-20261206T100000.log', logDir, history: () => past };
  const done = {
    kind: 'done',
    run: { op: 'upgrade', from: '1.2.2', to: '1.3.0', rehearsal: { line: 'rehearsal: journey 16/16' } },
  } as unknown as LifecycleOutcome;

  it('tells each step, then the end with the history it may have missed and the backups; says nothing when all was told', async () => {
    const lines: string[] = [];
    const reporter = new RunReporter(
      async (p, body) => {
        told.push({ path: p, body: body as Body });
        return undefined;
      },
      run,
      (l) => lines.push(l),
    );
    // Each step once the report before it is told (the next turn of the event loop).
    const nextTurn = () => new Promise((resolve) => setImmediate(resolve));
    reporter.step({ op: 'upgrade', from: '1.2.2', to: '1.3.0', name: 'backup', what: 'back up the database' });
    await nextTurn();
    reporter.step({ op: 'upgrade', from: '1.2.2', to: '1.3.0', name: 'bake', what: 'watch 1.3.0 for 60 s' });
    await nextTurn();
    expect(await reporter.finish(done, 'upgraded 1.2.2 -> 1.3.0 in 41.0 s; 1.3.0 is healthy.\nrehearsal: journey 16/16')).toBeUndefined();
    expect(told.map((t) => [t.path, t.body.operations?.map((o) => [o.id, o.state, o.step]) ?? t.body.backups?.map((b) => b.name)])).toEqual([
      ['/api/admin/operations', [['20261206T100000', 'running', 'backup']]],
      ['/api/admin/operations', [['20261206T100000', 'running', 'bake']]],
      [
        '/api/admin/operations',
        [
          ['20261205T100000', 'succeeded', undefined],
          ['20261206T100000', 'succeeded', 'bake'],
        ],
      ],
      ['/api/admin/backups', ['db-backup-1.2.2-20261206T095900.sql.gz']],
    ]);
    expect(told[2]!.body.operations?.[1]).toMatchObject({
      summary: 'upgraded 1.2.2 -> 1.3.0 in 41.0 s; 1.3.0 is healthy.',
      figures: { rehearsal: 'rehearsal: journey 16/16' },
      actor: expect.stringMatching(/^\S+@\S+$/) as unknown,
      finishedAt: expect.any(String) as unknown,
    });
    expect(told[3]!.body.backups?.[0]).toMatchObject({ version: '1.2.2', takenAt: '2026-12-06T09:59:00.000Z', reason: 'unknown', signed: false });
    expect(lines).toEqual([]);
  });

  it('a Tenant Plane that cannot be told is said once in the log, and at the end; the run is not held up', async () => {
    const lines: string[] = [];
    const reporter = new RunReporter(
      async () => 'PUT /api/admin/operations: HTTP 404: no route',
      run,
      (l) => lines.push(l),
    );
    reporter.step({ op: 'upgrade', from: '1.2.2', to: '1.3.0', name: 'backup', what: 'back up' });
    reporter.step({ op: 'upgrade', from: '1.2.2', to: '1.3.0', name: 'promote', what: 'switch' });
    expect(await reporter.finish(done, 'upgraded')).toBe('PUT /api/admin/operations: HTTP 404: no route');
    expect(lines).toEqual([
      "the Tenant Plane is not told of this run's progress: PUT /api/admin/operations: HTTP 404: no route",
      'the Tenant Plane was not told of this run: PUT /api/admin/operations: HTTP 404: no route',
    ]);
  });

  it('steps that start while a report is on its way are reported together, as the last of them; the end waits for no queue', async () => {
    const sent: unknown[] = [];
    let release!: () => void;
    const slow = new Promise<void>((r) => (release = r));
    const reporter = new RunReporter(
      async (p, body) => {
        sent.push((body as Body).operations?.map((o) => o.step) ?? 'backups');
        if (sent.length === 1) await slow;
        return undefined;
      },
      run,
      () => {},
    );
    for (const name of ['preflight', 'backup', 'start-candidate', 'wait-healthy'])
      reporter.step({ op: 'upgrade', from: '1.2.2', to: '1.3.0', name, what: name });
    release();
    reporter.step({ op: 'upgrade', from: '1.2.2', to: '1.3.0', name: 'bake', what: 'bake' });
    expect(await reporter.finish(done, 'upgraded')).toBeUndefined();
    // The first state, then the newest when it was sent; then the end (with the history before it) and the backups.
    expect(sent[0]).toEqual(['preflight']);
    expect(sent.slice(1, -2).length).toBeLessThanOrEqual(1);
    expect(sent.slice(-2)).toEqual([[undefined, 'bake'], 'backups']);
  });

  it('a run that never reached a step (refused as it was planned) reports nothing', async () => {
    let calls = 0;
    const reporter = new RunReporter(
      async () => {
        calls++;
        return undefined;
      },
      run,
      () => {},
    );
    expect(await reporter.finish({ kind: 'refused', reason: 'no', next: [] } as unknown as LifecycleOutcome, 'refused')).toBeUndefined();
    expect(calls).toBe(0);
  });
});
