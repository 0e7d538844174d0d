import { setTimeout as sleep } from 'node:timers/promises';
import type { Counters, Probe, TenantPlane, WebhookState } from './tenant-plane.js';

/**
 * The bake: the operator guide's reasons to roll back, watched on the new version for a while
 * after the health gate, against a baseline taken on the old one just before the switch.
 * Probes go at a bounded rate (a round of one request per route every `roundMs`), so that they
 * do not become the load they measure.
 */
export interface BakeSettings {
  /** How long the bake watches the new version; 0 skips the bake (and its baseline). */
  seconds: number;
  /** A route's p95 may grow this many times (against at least LATENCY_FLOOR_MS) before it is a regression. */
  maxLatencyRatio: number;
  /** Send one test delivery to each webhook that delivered before. */
  webhookTest: boolean;
  baselineMs: number;
  roundMs: number;
}

export const BAKE_DEFAULTS = { seconds: 60, maxLatencyRatio: 3, webhookTest: true, baselineMs: 5_000, roundMs: 250 } as const;
/** Below this, a p95 is noise: 1 ms → 3 ms is no regression. */
export const LATENCY_FLOOR_MS = 10;
/**
 * A route's latency is judged on the new version once warm (its first WARM_UP samples, about 2 s,
 * are left out: a process just started is slower), over its last WINDOW samples, once it has
 * MIN_SAMPLES of them.
 */
const WARM_UP = 8;
const WINDOW = 40;
const MIN_SAMPLES = 20;

export interface RouteFigures {
  n: number;
  p50: number;
  p95: number;
  failures: number;
}

export interface Figures {
  routes: Record<string, RouteFigures>;
  /** 5xx answers counted by the server during the window (undefined: /metrics not readable). */
  errors5xx: number | undefined;
  webhookFailures: number | undefined;
  /** Agents online at the window's end (the gate's checklist waits for those online before). */
  agentsOnline: number | undefined;
}

export interface Baseline extends Figures {
  /** Webhooks whose last delivery went through before the switch. */
  webhooksDelivering: WebhookState[];
}

/**
 * One signal's verdict, with its figures (model: Argo Rollouts' analysis runs): `inconclusive`
 * when there was not enough to judge it (too few samples, no baseline, counters not readable).
 */
export type Verdict = { result: 'pass' | 'fail' | 'inconclusive' } & (
  | { signal: 'answers'; route: string; samples: number; failures: number; firstFailure?: string | undefined }
  | { signal: 'latency'; route: string; samples: number; minSamples: number; p95Ms: number; baselineP95Ms: number | null; limitMs: number | null }
  | { signal: 'webhook'; webhook: string; tested: boolean; failure?: string | undefined }
  | { signal: '5xx'; answers: number | null; baselineAnswers: number | null }
);

export interface BakeReport {
  seconds: number;
  baseline: Figures;
  bake: Figures;
  /** Each signal judged, as data (`tpctl history --json`). */
  verdicts: Verdict[];
  /** What decided a failure, in words (empty when it passed): the run log's and the operator's. */
  signals: string[];
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

function figures(samples: readonly Probe[]): Record<string, RouteFigures> {
  const byRoute = new Map<string, Probe[]>();
  for (const s of samples) {
    const list = byRoute.get(s.route);
    if (list) list.push(s);
    else byRoute.set(s.route, [s]);
  }
  return Object.fromEntries(
    [...byRoute].map(([route, list]) => {
      const ms = list.filter((s) => s.ok).map((s) => s.ms);
      return [route, { n: list.length, p50: Math.round(percentile(ms, 50)), p95: Math.round(percentile(ms, 95)), failures: list.length - ms.length }];
    }),
  );
}

/** The latency verdict of a route, with its figures (the same rule as latencyRegression). */
function latencyVerdict(route: string, base: RouteFigures | undefined, bake: RouteFigures, ratio: number, minSamples: number): Verdict {
  const samples = bake.n - bake.failures;
  const judged = base && base.n - base.failures > 0;
  const limitMs = judged ? ratio * Math.max(base.p95, LATENCY_FLOOR_MS) : null;
  const result = limitMs === null || samples < minSamples ? 'inconclusive' : bake.p95 > limitMs ? 'fail' : 'pass';
  return { signal: 'latency', route, result, samples, minSamples, p95Ms: bake.p95, baselineP95Ms: judged ? base.p95 : null, limitMs };
}

/**
 * A latency regression: the bake's p95 above `ratio` times the baseline's p95, where a baseline
 * below LATENCY_FLOOR_MS counts as the floor. Judged once the route has `minSamples` samples.
 */
export function latencyRegression(route: string, base: RouteFigures | undefined, bake: RouteFigures, ratio: number, minSamples: number): string | undefined {
  if (!base || latencyVerdict(route, base, bake, ratio, minSamples).result !== 'fail') return undefined;
  const times = base.p95 > 0 ? `x${(bake.p95 / base.p95).toFixed(1)}` : 'from 0 ms';
  return `p95 of ${route} ${bake.p95} ms against ${base.p95} ms before (${times} > x${ratio}, floor ${LATENCY_FLOOR_MS} ms)`;
}

const delta = (a: Counters | undefined, b: Counters | undefined, key: 'errors5xx' | 'webhookFailures') => (a && b ? b[key] - a[key] : undefined);

/**
 * Probes every route once a round, a round every `roundMs`, for `ms`; after each round `check`
 * may find decisive signals, which end it at once.
 */
async function probeFor(
  tp: TenantPlane,
  version: string | undefined,
  ms: number,
  roundMs: number,
  check: (samples: Probe[]) => Promise<string[]>,
): Promise<{ samples: Probe[]; signals: string[] }> {
  const samples: Probe[] = [];
  const deadline = performance.now() + ms;
  do {
    const started = performance.now();
    samples.push(...(await Promise.all(tp.probeRoutes.map((route) => tp.probe(route, version)))));
    const signals = await check(samples);
    if (signals.length) return { samples, signals };
    await sleep(Math.max(0, roundMs - (performance.now() - started)));
  } while (performance.now() < deadline);
  return { samples, signals: [] };
}

/** The baseline, on the version that runs: probe latencies, the counters' movement, the webhooks that deliver. */
export async function takeBaseline(tp: TenantPlane, settings: BakeSettings): Promise<Baseline> {
  const before = await tp.counters();
  const webhooks = (await tp.webhooks()) ?? [];
  const { samples } = await probeFor(tp, undefined, settings.baselineMs, settings.roundMs, async () => []);
  // Nothing to compare with: the health URL does not reach the version that runs.
  const health = samples.filter((s) => s.route === 'GET /api/health');
  if (!health.some((s) => s.ok))
    throw new Error(
      `the version that runs did not answer healthy at any of ${health.length} probes (${health.at(-1)?.detail ?? 'no probe'}): no baseline to bake against`,
    );
  const after = await tp.counters();
  return {
    routes: figures(samples),
    errors5xx: delta(before, after, 'errors5xx'),
    webhookFailures: delta(before, after, 'webhookFailures'),
    agentsOnline: after?.agentsOnline,
    webhooksDelivering: webhooks.filter((w) => w.lastDelivery?.status === 'delivered'),
  };
}

/**
 * Watches the new version for `settings.seconds`, ending at the first decisive signal: health
 * not ok for it or an authenticated read failing, a latency regression, a webhook that delivered
 * before and fails now (its test delivery, or a real one), 5xx answers where the baseline had
 * none. The server's own counters and the webhooks are read every 2 s and at the end.
 */
export async function bake(tp: TenantPlane, version: string, baseline: Baseline, settings: BakeSettings, log: (line: string) => void): Promise<BakeReport> {
  const before = await tp.counters();
  const seen = new Map(baseline.webhooksDelivering.map((w) => [w.id, w.lastDelivery?.id ?? 0]));
  /** Webhooks that delivered before and fail now: why, by id. */
  const webhookFailures = new Map<string, string>();
  const tested: string[] = [];
  if (settings.webhookTest) {
    for (const w of baseline.webhooksDelivering) {
      const test = await tp.testWebhook(w.id);
      log(`   webhook ${w.name}: test delivery ${test.ok ? 'delivered' : `FAILED: ${test.detail}`}`);
      if (test.ok) continue;
      webhookFailures.set(w.id, test.detail);
      tested.push(`webhook ${w.name} delivered before the switch and its test delivery now fails: ${test.detail}`);
    }
  }
  let counters = before;
  const fromServer = async (): Promise<string[]> => {
    counters = (await tp.counters()) ?? counters;
    const found: string[] = [];
    const errors = delta(before, counters, 'errors5xx');
    if (errors && baseline.errors5xx === 0) found.push(`${errors} answers with a 5xx status during the bake, none in the baseline`);
    for (const w of (await tp.webhooks()) ?? []) {
      const last = w.lastDelivery;
      if (seen.has(w.id) && last && last.id > (seen.get(w.id) ?? 0) && last.status !== 'delivered' && (last.lastError || last.lastStatusCode)) {
        const why = last.lastError ?? `HTTP ${last.lastStatusCode}`;
        webhookFailures.set(w.id, why);
        found.push(`webhook ${w.name} delivered before the switch and now fails: ${why}`);
      }
    }
    return found;
  };
  const warm = (samples: readonly Probe[], route: string) =>
    figures(
      samples
        .filter((p) => p.route === route)
        .slice(WARM_UP)
        .slice(-WINDOW),
    )[route] ?? { n: 0, p50: 0, p95: 0, failures: 0 };
  const judge = (samples: readonly Probe[]): string[] => {
    const failed = samples.find((p) => !p.ok);
    const regressions = tp.probeRoutes.flatMap(
      (route) => latencyRegression(route, baseline.routes[route], warm(samples, route), settings.maxLatencyRatio, MIN_SAMPLES) ?? [],
    );
    return [...(failed ? [`${failed.route} failed: ${failed.detail}`] : []), ...regressions];
  };
  let lastRead = performance.now();
  const watched = tested.length
    ? { samples: [], signals: tested }
    : await probeFor(tp, version, settings.seconds * 1000, settings.roundMs, async (samples) => {
        const found = judge(samples);
        if (found.length || performance.now() - lastRead < 2_000) return found;
        lastRead = performance.now();
        return fromServer();
      });
  const signals = watched.signals.length ? watched.signals : [...judge(watched.samples), ...(await fromServer())];
  const samples = watched.samples;
  const errors5xx = delta(before, counters, 'errors5xx');
  const verdicts: Verdict[] = [
    ...tp.probeRoutes.map((route): Verdict => {
      const probes = samples.filter((p) => p.route === route);
      const failed = probes.filter((p) => !p.ok);
      return {
        signal: 'answers',
        route,
        result: failed.length ? 'fail' : probes.length ? 'pass' : 'inconclusive',
        samples: probes.length,
        failures: failed.length,
        firstFailure: failed[0]?.detail,
      };
    }),
    ...tp.probeRoutes.map((route) => latencyVerdict(route, baseline.routes[route], warm(samples, route), settings.maxLatencyRatio, MIN_SAMPLES)),
    ...baseline.webhooksDelivering.map((w): Verdict => {
      const failure = webhookFailures.get(w.id);
      return {
        signal: 'webhook',
        webhook: w.name,
        tested: settings.webhookTest,
        result: failure ? 'fail' : settings.webhookTest ? 'pass' : 'inconclusive',
        failure,
      };
    }),
    {
      signal: '5xx',
      answers: errors5xx ?? null,
      baselineAnswers: baseline.errors5xx ?? null,
      // Where the baseline had 5xx answers too, more of them prove nothing.
      result: errors5xx === 0 ? 'pass' : errors5xx === undefined || baseline.errors5xx !== 0 ? 'inconclusive' : 'fail',
    },
  ];
  return {
    seconds: settings.seconds,
    baseline: { routes: baseline.routes, errors5xx: baseline.errors5xx, webhookFailures: baseline.webhookFailures, agentsOnline: baseline.agentsOnline },
    bake: { routes: figures(samples), errors5xx, webhookFailures: delta(before, counters, 'webhookFailures'), agentsOnline: counters?.agentsOnline },
    verdicts,
    signals,
  };
}
