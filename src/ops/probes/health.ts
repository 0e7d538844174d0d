import { setTimeout as sleep } from 'node:timers/promises';

/** The last answer of the health endpoint, kept as evidence for the run log and history. */
export interface HealthEvidence {
  at: string;
  status: number | undefined;
  body: string | undefined;
  error: string | undefined;
}

export interface HealthWait {
  healthy: boolean;
  /** Why it is not healthy: the last answer, or the crash. */
  reason: string;
  evidence: HealthEvidence | undefined;
  elapsedMs: number;
}

export async function probeHealth(url: string): Promise<HealthEvidence> {
  const at = new Date().toISOString();
  // A timer of our own, not AbortSignal.timeout's: that one does not keep Node.js running, and a
  // connection held open without an answer (a supervisor between two versions) would not either.
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error('no answer within 2 s')), 2_000);
  try {
    const res = await fetch(url, { signal: controller.signal, headers: { accept: 'application/json' } });
    return { at, status: res.status, body: (await res.text()).slice(0, 2_000), error: undefined };
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code;
    return { at, status: undefined, body: undefined, error: cause ?? (err as Error).message };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * What keeps an answer from being healthy for `version`, or undefined when it is: healthy means
 * `"status":"ok"` from the version asked for (an old container still answering does not count).
 */
export function healthProblem(evidence: HealthEvidence, version: string): string | undefined {
  if (evidence.error) return `no answer from the health endpoint (${evidence.error})`;
  let body: { status?: string; version?: string };
  try {
    body = JSON.parse(evidence.body ?? '') as typeof body;
  } catch {
    return `HTTP ${evidence.status} with a body that is not JSON`;
  }
  if (body.version !== version) return `it answers for version ${body.version ?? '?'}, not ${version} (HTTP ${evidence.status}, status ${body.status ?? '?'})`;
  if (evidence.status !== 200 || body.status !== 'ok') return `HTTP ${evidence.status}, status ${body.status ?? '?'}: ${evidence.body ?? ''}`;
  return undefined;
}

/**
 * Polls the health endpoint until the given version answers healthy, the runtime shows the
 * Tenant Plane has crashed (then at once: no use sitting out the timeout), or time runs out.
 */
export async function waitHealthy(options: {
  probe: () => Promise<HealthEvidence>;
  version: string;
  timeoutMs: number;
  /** What the platform says of a crash (`exited with 1`), or undefined while it has not crashed. */
  crashed: () => Promise<string | undefined>;
  intervalMs?: number;
}): Promise<HealthWait> {
  const started = performance.now();
  let evidence: HealthEvidence | undefined;
  for (;;) {
    evidence = await options.probe();
    const problem = healthProblem(evidence, options.version);
    const elapsedMs = Math.round(performance.now() - started);
    if (!problem) return { healthy: true, reason: 'healthy', evidence, elapsedMs };
    // A platform that cannot say this time is asked again at the next probe.
    const crash = await options.crashed().catch(() => undefined);
    if (crash) return { healthy: false, reason: `the Tenant Plane crashed: ${crash}; last health check: ${problem}`, evidence, elapsedMs };
    if (elapsedMs >= options.timeoutMs) {
      return { healthy: false, reason: `not healthy after ${Math.round(options.timeoutMs / 1000)} s: ${problem}`, evidence, elapsedMs };
    }
    await sleep(options.intervalMs ?? 100);
  }
}
