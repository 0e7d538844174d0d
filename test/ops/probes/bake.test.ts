import { describe, expect, it } from 'vitest';
import { BAKE_DEFAULTS, bake, latencyRegression, percentile, takeBaseline } from '../../../src/ops/probes/bake.js';
import { type Counters, type Probe, type WebhookState } from '../../../src/ops/probes/tenant-plane.js';
import { sumOf, type TenantPlane } from '../../../src/ops/probes/tenant-plane.js';

/** A Tenant Plane whose answers a test sets: how long each route takes, what the counters say, the webhooks. */
function tenantPlane(state: { ms: number; version: string; errors5xx: number; webhooks: WebhookState[]; testOk: boolean }): TenantPlane {
  return {
    healthUrl: 'http://tp.invalid/api/health',
    at: () => tenantPlane(state),
    health: async () => ({ at: '', status: 200, body: '{}', error: undefined }),
    checklist: undefined,
    onlineAgents: async () => undefined,
    probeRoutes: ['GET /api/health', 'GET /api/incidents'],
    probe: async (route, version): Promise<Probe> => {
      const ok = version === undefined || version === state.version;
      return { route, ok, ms: state.ms, detail: ok ? 'ok' : `it answers for version ${state.version}, not ${version}` };
    },
    counters: async (): Promise<Counters> => ({ errors5xx: state.errors5xx, webhookFailures: 0, agentsOnline: 2 }),
    webhooks: async () => state.webhooks,
    testWebhook: async () => ({ ok: state.testOk, detail: state.testOk ? 'delivered' : 'HTTP 500' }),
    journey: () => Promise.reject(new Error('the bake runs no journey')),
    tell: () => Promise.reject(new Error('the bake tells nothing')),
  };
}

const settings = { ...BAKE_DEFAULTS, seconds: 0.3, baselineMs: 50, roundMs: 2 };
const hook = (status: string, id = 1): WebhookState => ({
  id: '7',
  name: 'pager',
  lastDelivery: { id, status, lastStatusCode: status === 'delivered' ? 200 : 500, lastError: status === 'delivered' ? null : 'HTTP 500' },
});

describe('the bake', () => {
  it('the latency rule: p95 above ratio times the baseline p95, the baseline counted as at least 10 ms', () => {
    const f = (p95: number, n = 50) => ({ n, p50: p95, p95, failures: 0 });
    expect(latencyRegression('GET /x', f(1), f(3), 3, 20)).toBeUndefined(); // 1 → 3 ms: a wobble
    expect(latencyRegression('GET /x', f(1), f(30), 3, 20)).toBeUndefined(); // at the floor's limit
    expect(latencyRegression('GET /x', f(1), f(31), 3, 20)).toBe('p95 of GET /x 31 ms against 1 ms before (x31.0 > x3, floor 10 ms)');
    expect(latencyRegression('GET /api/incidents', f(6), f(41), 3, 20)).toBe('p95 of GET /api/incidents 41 ms against 6 ms before (x6.8 > x3, floor 10 ms)');
    expect(latencyRegression('GET /x', f(20), f(59), 3, 20)).toBeUndefined();
    expect(latencyRegression('GET /x', f(20), f(61), 3, 20)).toMatch(/x3\.0 > x3/);
    expect(latencyRegression('GET /x', f(20), f(100, 5), 3, 20)).toBeUndefined(); // too few samples yet
    expect(latencyRegression('GET /x', undefined, f(100), 3, 20)).toBeUndefined(); // nothing to compare with
  });

  it('percentiles are nearest-rank', () => {
    expect(percentile([], 95)).toBe(0);
    expect(percentile([5], 95)).toBe(5);
    expect(
      percentile(
        [...Array(100).keys()].map((i) => i + 1),
        95,
      ),
    ).toBe(95);
    expect(percentile([1, 2, 3, 100], 50)).toBe(2);
  });

  it('reads the counters it needs from the Prometheus text of GET /metrics', () => {
    const text = [
      '# HELP atlas_http_requests_total HTTP requests by route and status class',
      '# TYPE atlas_http_requests_total counter',
      'atlas_http_requests_total{method="GET",route="/api/health",status_class="2xx"} 41',
      'atlas_http_requests_total{method="GET",route="/api/x",status_class="5xx"} 2',
      'atlas_http_requests_total{method="POST",route="/api/y",status_class="5xx"} 3',
      'atlas_webhook_deliveries_total{outcome="retrying"} 4',
      'atlas_webhook_deliveries_total{outcome="delivered"} 9',
      'atlas_agents_online 12',
    ].join('\n');
    expect(sumOf(text, 'atlas_http_requests_total', /status_class="5xx"/)).toBe(5);
    expect(sumOf(text, 'atlas_webhook_deliveries_total', /outcome="(failed|retrying)"/)).toBe(4);
    expect(sumOf(text, 'atlas_agents_online', /^$/)).toBe(12);
    expect(sumOf('garbage\n{}', 'atlas_http_requests_total', /./)).toBe(0);
  });

  it('passes a version as fast as the one before, with its figures', async () => {
    const state = { ms: 2, version: '1.2.2', errors5xx: 0, webhooks: [], testOk: true };
    const baseline = await takeBaseline(tenantPlane(state), settings);
    state.version = '1.3.0';
    const report = await bake(tenantPlane(state), '1.3.0', baseline, settings, () => {});
    expect(report.signals).toEqual([]);
    expect(report.baseline).toMatchObject({ routes: { 'GET /api/health': { p95: 2, failures: 0 } }, errors5xx: 0, agentsOnline: 2 });
    expect(report.bake).toMatchObject({ errors5xx: 0, agentsOnline: 2 });
    expect(report.bake.routes['GET /api/incidents']?.n).toBeGreaterThanOrEqual(20);
  });

  it('fails a slow version at the first decisive moment, naming the figures', async () => {
    const state = { ms: 2, version: '1.2.2', errors5xx: 0, webhooks: [], testOk: true };
    const baseline = await takeBaseline(tenantPlane(state), settings);
    Object.assign(state, { version: '1.3.0', ms: 40 });
    const started = performance.now();
    const report = await bake(tenantPlane(state), '1.3.0', { ...baseline }, { ...settings, seconds: 30 }, () => {});
    expect(performance.now() - started).toBeLessThan(5_000); // not the 30 s: it ends at the signal
    expect(report.signals).toEqual([
      'p95 of GET /api/health 40 ms against 2 ms before (x20.0 > x3, floor 10 ms)',
      'p95 of GET /api/incidents 40 ms against 2 ms before (x20.0 > x3, floor 10 ms)',
    ]);
  });

  it('fails a version another version answers for, 5xx answers where there were none, a webhook that fails now', async () => {
    const state = { ms: 2, version: '1.2.2', errors5xx: 0, webhooks: [hook('delivered')], testOk: true };
    const baseline = await takeBaseline(tenantPlane(state), settings);
    expect(baseline.webhooksDelivering.map((w) => w.name)).toEqual(['pager']);

    expect((await bake(tenantPlane(state), '1.3.0', baseline, settings, () => {})).signals).toEqual([
      'GET /api/health failed: it answers for version 1.2.2, not 1.3.0',
    ]);

    state.version = '1.3.0';
    const tp = tenantPlane(state);
    const errors = { ...tp, counters: async () => ({ errors5xx: (state.errors5xx += 1), webhookFailures: 0, agentsOnline: 2 }) };
    expect((await bake(errors, '1.3.0', baseline, settings, () => {})).signals).toEqual([
      expect.stringMatching(/^\d+ answers with a 5xx status during the bake, none in the baseline$/),
    ]);

    state.testOk = false;
    expect((await bake(tenantPlane(state), '1.3.0', baseline, settings, () => {})).signals).toEqual([
      'webhook pager delivered before the switch and its test delivery now fails: HTTP 500',
    ]);

    // Real deliveries, with the test deliveries off: a newer delivery that failed.
    Object.assign(state, { testOk: true, webhooks: [hook('pending', 2)] });
    expect((await bake(tenantPlane(state), '1.3.0', baseline, { ...settings, webhookTest: false }, () => {})).signals).toEqual([
      'webhook pager delivered before the switch and now fails: HTTP 500',
    ]);
  });

  it('gives each signal a verdict with its figures: pass, fail, or inconclusive when it could not be judged', async () => {
    const state = { ms: 2, version: '1.2.2', errors5xx: 0, webhooks: [hook('delivered')], testOk: true };
    const baseline = await takeBaseline(tenantPlane(state), settings);
    Object.assign(state, { version: '1.3.0', ms: 40 });
    const slow = await bake(tenantPlane(state), '1.3.0', baseline, { ...settings, seconds: 30 }, () => {});
    expect(slow.verdicts).toEqual([
      { signal: 'answers', route: 'GET /api/health', result: 'pass', samples: expect.any(Number) as unknown, failures: 0, firstFailure: undefined },
      { signal: 'answers', route: 'GET /api/incidents', result: 'pass', samples: expect.any(Number) as unknown, failures: 0, firstFailure: undefined },
      {
        signal: 'latency',
        route: 'GET /api/health',
        result: 'fail',
        samples: expect.any(Number) as unknown,
        minSamples: 20,
        p95Ms: 40,
        baselineP95Ms: 2,
        limitMs: 30,
      },
      {
        signal: 'latency',
        route: 'GET /api/incidents',
        result: 'fail',
        samples: expect.any(Number) as unknown,
        minSamples: 20,
        p95Ms: 40,
        baselineP95Ms: 2,
        limitMs: 30,
      },
      { signal: 'webhook', webhook: 'pager', tested: true, result: 'pass', failure: undefined },
      { signal: '5xx', answers: 0, baselineAnswers: 0, result: 'pass' },
    ]);
    // A webhook that fails its test ends the bake before any probe: the probes could not be judged.
    Object.assign(state, { ms: 2, testOk: false });
    const early = await bake(tenantPlane(state), '1.3.0', baseline, settings, () => {});
    expect(early.verdicts.filter((v) => v.result !== 'pass').map((v) => [v.signal, v.result])).toEqual([
      ['answers', 'inconclusive'],
      ['answers', 'inconclusive'],
      ['latency', 'inconclusive'],
      ['latency', 'inconclusive'],
      ['webhook', 'fail'],
    ]);
  });

  it('takes no baseline from a version that does not answer healthy', async () => {
    const tp = tenantPlane({ ms: 1, version: '1.2.2', errors5xx: 0, webhooks: [], testOk: true });
    await expect(takeBaseline({ ...tp, probe: async (route) => ({ route, ok: false, ms: 1, detail: 'ECONNREFUSED' }) }, settings)).rejects.toThrow(
      /did not answer healthy at any of \d+ probes \(ECONNREFUSED\)/,
    );
  });
});
