import { describe, expect, it } from 'vitest';
import { signedInApp } from '../support/app.js';

/** What tpctl reports of its runs and backups, and the pages that show them: Upgrades & backups, and the banner. */
const t = signedInApp();

const run = (over: Record<string, unknown> = {}) => ({
  id: '20261206T100000',
  kind: 'upgrade',
  from: '1.2.2',
  to: '1.3.0',
  state: 'running',
  step: 'bake',
  stepWhat: 'watch 1.3.0 for 60 s: health, authenticated reads',
  stepStartedAt: new Date(Date.now() - 20_000).toISOString(),
  actor: 'root@ops-1',
  log: '/var/log/atlas/upgrade-20261206T100000.log',
  startedAt: new Date(Date.now() - 90_000).toISOString(),
  ...over,
});
const report = (cookie: string, operations: unknown[]) =>
  t.app.inject({ method: 'PUT', url: '/api/admin/operations', headers: { cookie }, payload: { operations } });
const backup = (name: string, over: Record<string, unknown> = {}) => ({
  name,
  version: '1.2.2',
  takenAt: '2026-12-06T09:59:00.000Z',
  sizeBytes: 12_345_678,
  reason: 'pre-upgrade',
  signed: true,
  verifiedAt: '2026-12-06T09:59:30.000Z',
  ...over,
});

describe('runs reported by tpctl', () => {
  it('a running run is on every page as a banner, with its step and seconds; the history shows it ended, with its figures', async () => {
    expect((await report(t.admin, [run()])).statusCode).toBe(204);
    for (const url of ['/incidents', '/settings', '/settings/tokens']) {
      const page = await t.app.inject({ url, headers: { cookie: t.viewer } });
      expect(page.body).toMatch(
        /<p class="banner" role="status" id="running-operation">upgrade 1\.2\.2 → 1\.3\.0 in progress — bake, 2\d s in: watch 1\.3\.0 for 60 s: health, authenticated reads \(started 9\d s ago by root@ops-1\)<\/p>/,
      );
    }
    const ended = run({
      state: 'succeeded',
      summary: 'upgraded 1.2.2 -> 1.3.0 in 41.0 s; 1.3.0 is healthy.',
      figures: { rehearsal: 'rehearsal: journey 16/16' },
      finishedAt: new Date().toISOString(),
    });
    expect((await report(t.admin, [ended])).statusCode).toBe(204);
    // A history line sent again later (no step, no figures) changes the state at most.
    expect(
      (
        await report(t.admin, [
          { ...run({ state: 'succeeded', actor: 'tpctl (its history)' }), step: undefined, stepWhat: undefined, stepStartedAt: undefined },
        ])
      ).statusCode,
    ).toBe(204);
    const page = await t.app.inject({ url: '/settings/upgrades', headers: { cookie: t.viewer } });
    expect(page.body).not.toContain('id="running-operation"');
    expect(page.body).toMatch(
      /<tr data-run="20261206T100000">[\s\S]*?upgrade 1\.2\.2 → 1\.3\.0[\s\S]*?<td class="online">succeeded<\/td>\s*<td>root@ops-1<br \/><small>reported as admin@example.com<\/small><\/td>/,
    );
    expect(page.body).toContain('upgraded 1.2.2 -&gt; 1.3.0 in 41.0 s; 1.3.0 is healthy.');
    expect(page.body).toContain('<small>rehearsal: rehearsal: journey 16/16</small>');
    expect(page.body).toContain('<dd id="previous-version">1.2.2</dd>');
  });

  it('a run tpctl stopped reporting (killed) shows no banner after a minute', async () => {
    await report(t.admin, [run({ id: '20261206T110000' })]);
    await t.db.query(`UPDATE operations SET updated_at = now() - interval '61 seconds' WHERE id = '20261206T110000'`);
    const api = await t.app.inject({ url: '/api/operations', headers: { cookie: t.viewer } });
    expect(api.json()).toMatchObject({ running: null });
    expect(api.json<{ operations: { id: string; state: string }[] }>().operations.find((o) => o.id === '20261206T110000')).toMatchObject({ state: 'running' });
  });

  it('only an admin reports; bad reports are refused whole with a 400', async () => {
    expect((await report(t.viewer, [run({ id: '20261206T120000' })])).statusCode).toBe(403);
    expect((await t.app.inject({ method: 'PUT', url: '/api/admin/backups', headers: { cookie: t.viewer }, payload: { backups: [] } })).statusCode).toBe(403);
    for (const bad of [
      run({ id: '../etc' }),
      run({ id: '20261206T120000', state: 'exploded' }),
      run({ id: '20261206T120000', from: '1.2.2; rm -rf /' }),
      run({ id: '20261206T120000', startedAt: 'yesterday' }),
      run({ id: '20261206T120000', figures: { bake: { p95: 7 } } }),
      run({ id: '20261206T120000', extra: true }),
    ]) {
      const res = await report(t.admin, [bad]);
      expect({ bad, status: res.statusCode }).toEqual({ bad, status: 400 });
    }
    expect((await report(t.admin, [])).statusCode).toBe(400);
    expect(
      (
        await report(
          t.admin,
          Array.from({ length: 101 }, (_, i) => run({ id: `20261206T12${String(i).padStart(4, '0')}` })),
        )
      ).statusCode,
    ).toBe(400);
    expect(await t.db.query(`SELECT 1 FROM operations WHERE id LIKE '20261206T12%'`)).toEqual([]);
  });
});

describe('backups reported by tpctl', () => {
  it('replace those reported before; the one a rehearsal or drill proved says when', async () => {
    const put = (backups: unknown[], cookie = t.admin) => t.app.inject({ method: 'PUT', url: '/api/admin/backups', headers: { cookie }, payload: { backups } });
    expect((await put([backup('db-backup-1.2.1-20261201T090000.sql.gz')])).statusCode).toBe(204);
    const kept = [backup('db-backup-1.2.2-20261206T095900.sql.gz'), backup('db-backup-1.2.2-20261205T095900.sql.gz', { signed: false, reason: 'manual' })];
    expect((await put(kept)).statusCode).toBe(204);
    await t.db.query(`INSERT INTO settings (key, value) VALUES ('backup.last_proven_restore', $1::jsonb)`, [
      JSON.stringify({ backup: 'db-backup-1.2.2-20261206T095900.sql.gz', takenAt: '2026-12-06T09:59:00.000Z', provenAt: '2026-12-06T10:01:00.000Z' }),
    ]);
    const api = await t.app.inject({ url: '/api/backups', headers: { cookie: t.viewer } });
    expect(api.json<{ backups: unknown[] }>().backups).toEqual([
      { ...kept[0], provenAt: '2026-12-06T10:01:00.000Z' },
      { ...kept[1], provenAt: null },
    ]);
    const page = await t.app.inject({ url: '/settings/upgrades', headers: { cookie: t.viewer } });
    expect(page.body).toMatch(
      /<tr data-backup="db-backup-1\.2\.2-20261206T095900\.sql\.gz">[\s\S]*?<td>12\.3 MB<\/td>\s*<td>pre-upgrade<\/td>\s*<td>yes<\/td>\s*<td><time/,
    );
    expect(page.body).toMatch(/<tr data-backup="db-backup-1\.2\.2-20261205T095900\.sql\.gz">[\s\S]*?<td>no<\/td>\s*<td>not since it was taken<\/td>/);
    expect(page.body).not.toContain('db-backup-1.2.1');
    for (const bad of [
      backup('../../etc/passwd'),
      backup('db-backup-1.2.2-x.sql.gz'),
      backup('db-backup-1.2.2-20261206T095900.sql.gz', { sizeBytes: -1 }),
      backup('db-backup-1.2.2-20261206T095900.sql.gz', { takenAt: '0000-06-01T00:00:00Z' }),
    ]) {
      expect((await put([bad])).statusCode).toBe(400);
    }
    // A valid time PostgreSQL would not take as written (an offset beyond ±15:59) is kept in UTC.
    expect((await put([backup('db-backup-1.2.2-20261206T095900.sql.gz', { takenAt: '3640-01-28T06:49:52.189-19:45' })])).statusCode).toBe(204);
    expect((await t.app.inject({ url: '/api/backups', headers: { cookie: t.viewer } })).json()).toMatchObject({
      backups: [{ takenAt: '3640-01-29T02:34:52.189Z' }],
    });
  });
});
