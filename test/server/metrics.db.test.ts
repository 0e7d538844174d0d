import parsePrometheus from 'parse-prometheus-text-format';
import { describe, expect, it } from 'vitest';
import { PROVEN_RESTORE_SETTING } from '../../src/shared/names.js';
import { METRICS_TOKEN, signedInApp, TEST_VERSION } from '../support/app.js';

describe('GET /metrics', () => {
  const t = signedInApp();

  it('refuses anonymous requests, a wrong token and a non-admin; takes the token or an admin', async () => {
    expect((await t.app.inject({ url: '/metrics' })).statusCode).toBe(401);
    expect((await t.app.inject({ url: '/metrics', headers: { authorization: 'Bearer not-the-metrics-token' } })).statusCode).toBe(401);
    expect((await t.app.inject({ url: '/metrics', headers: { authorization: `Bearer ${METRICS_TOKEN}x` } })).statusCode).toBe(401);
    expect((await t.app.inject({ url: '/metrics', headers: { cookie: t.viewer } })).statusCode).toBe(403);
    const byToken = await t.app.inject({ url: '/metrics', headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(byToken.statusCode).toBe(200);
    expect(byToken.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect((await t.app.inject({ url: '/metrics', headers: { cookie: t.admin } })).statusCode).toBe(200);
  });

  it('is the Prometheus text format: requests by route and status class with latency, webhooks, agents, the process, the version', async () => {
    await t.app.inject({ url: '/api/health' });
    await t.app.inject({ url: '/api/settings', headers: { cookie: t.viewer } });
    await t.app.inject({ url: '/api/settings' });
    await t.app.inject({ url: '/api/no/such/route', headers: { cookie: t.viewer } });
    const res = await t.app.inject({ url: '/metrics', headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    const families = new Map(parsePrometheus(res.body).map((f) => [f.name, f]));

    const requests = families.get('atlas_http_requests_total')!;
    expect(requests.type).toBe('COUNTER');
    expect(requests.metrics).toContainEqual({ value: '1', labels: { method: 'GET', route: '/api/health', status_class: '2xx' } });
    expect(requests.metrics).toContainEqual({ value: '1', labels: { method: 'GET', route: '/api/settings', status_class: '2xx' } });
    expect(requests.metrics).toContainEqual({ value: '1', labels: { method: 'GET', route: '/api/settings', status_class: '4xx' } });
    // An unknown URL is counted under one label, not under its own path.
    expect(requests.metrics.find((m) => m.labels?.route === '/api/no/such/route')).toBeUndefined();
    expect(requests.metrics.find((m) => m.labels?.route === 'unmatched')).toBeDefined();

    const latency = families.get('atlas_http_request_duration_seconds')!;
    expect(latency.type).toBe('HISTOGRAM');
    expect(Object.keys(latency.metrics[0]?.buckets ?? {}).sort()).toEqual(
      ['0.002', '0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '+Inf'].sort(),
    );
    // (This parser keeps a histogram's buckets but not its other labels: the count, as written.)
    expect(res.body).toContain('atlas_http_request_duration_seconds_count{method="GET",route="/api/health"} 1\n');

    expect(families.get('atlas_build_info')?.metrics).toEqual([{ value: '1', labels: { version: TEST_VERSION } }]);
    expect(families.get('atlas_agents_online')?.metrics).toEqual([{ value: '0' }]);
    expect(families.get('atlas_agent_checkins_total')?.type).toBe('COUNTER');
    expect(families.get('atlas_webhook_deliveries_total')?.type).toBe('COUNTER');
    expect(families.get('process_cpu_seconds_total')?.type).toBe('COUNTER');
    expect(families.get('nodejs_eventloop_lag_seconds')?.type).toBe('GAUGE');
  });
});

describe('GET /metrics: the newest backup proven to restore', () => {
  const t = signedInApp();
  const read = async () => {
    const res = await t.app.inject({ url: '/metrics', headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    const families = new Map(parsePrometheus(res.body).map((f) => [f.name, f]));
    const sample = (name: string) => families.get(name)?.metrics[0];
    return { provenAt: sample('atlas_backup_last_proven_restore_timestamp_seconds'), age: sample('atlas_backup_proven_age_seconds') };
  };
  const record = (value: unknown) =>
    t.db.query(`INSERT INTO settings (key, value) VALUES ($1, $2::jsonb) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, [
      PROVEN_RESTORE_SETTING,
      JSON.stringify(value),
    ]);

  it('is absent until tpctl records one, then gives when it was proven and how old the backup is', async () => {
    expect(await read()).toEqual({ provenAt: undefined, age: undefined });
    const takenAt = new Date(Date.now() - 3_600_000).toISOString();
    const backup = 'db-backup-1.2.2-20261206T000000.sql.gz';
    await record({ backup, takenAt, provenAt: '2026-12-06T01:00:00.000Z' });
    const { provenAt, age } = await read();
    expect(provenAt).toEqual({ value: String(Date.parse('2026-12-06T01:00:00.000Z') / 1000), labels: { backup } });
    expect(age?.labels).toEqual({ backup });
    expect(Number(age?.value)).toBeGreaterThanOrEqual(3600);
    expect(Number(age?.value)).toBeLessThan(3600 + 600);
  });

  it('a value that is not what tpctl writes (an admin may set any) gives no figure, not a wrong one or an error', async () => {
    const times = { takenAt: '2026-12-06T00:00:00.000Z', provenAt: '2026-12-06T01:00:00.000Z' };
    for (const value of [
      { backup: 'db-backup-1.2.2-20261206T000000.sql.gz', takenAt: 'yesterday', provenAt: 'today' },
      { backup: 'x"} 1\nfake_metric{a="', ...times },
      { ...times },
      'proven',
      { backup: 'db-backup-1.2.2-20261206T000000.sql.gz', takenAt: 1, provenAt: 2 },
      null,
    ]) {
      await record(value);
      expect(await read()).toEqual({ provenAt: undefined, age: undefined });
    }
  });
});
