import { message, onlineAgents, request, runChecklist, signIn, type AgentBaseline, type Answer, type Check, type VerifyAuth } from './checklist.js';
import { healthProblem, probeHealth, type HealthEvidence } from './health.js';
import { runJourney, type JourneyResult } from './journey.js';
import { webhooksAnswer, webhookTestAnswer, type Webhooks, type WebhookTest } from '../../shared/api-shapes.js';
import { AnswerError, readAnswer } from '../../shared/answers.js';

/** One probe of one route. */
export interface Probe {
  route: string;
  ok: boolean;
  ms: number;
  /** Why it is not ok: the status and message, or the health answer. */
  detail: string;
}

/** The server's own counters (and the agents-online gauge), from GET /metrics. */
export interface Counters {
  errors5xx: number;
  webhookFailures: number;
  agentsOnline: number;
}

/** A webhook as tpctl sees it: whether its last delivery went through. */
export interface WebhookState {
  id: string;
  name: string;
  lastDelivery: { id: number; status: string; lastStatusCode: number | null; lastError: string | null } | null;
}

/**
 * The running Tenant Plane as tpctl sees it: over HTTP, the way an operator does (health, a
 * login, the license, the agents, authenticated reads, the server's counters, the webhooks).
 * The lifecycle uses only this interface.
 */
export interface TenantPlane {
  /** Where it answers, for messages. */
  readonly healthUrl: string;
  /** The same Tenant Plane, reached at another address (a candidate's own), with the same identity. */
  at(healthUrl: string): TenantPlane;
  health(): Promise<HealthEvidence>;
  /**
   * The recovery checklist for a version (a login, the license's version, the agents of the
   * baseline back); undefined when no verification identity is set.
   */
  readonly checklist: ((version: string, baseline: AgentBaseline | undefined) => Promise<{ ok: boolean; checks: Check[] }>) | undefined;
  /** The agents online now (undefined without a verification identity, or when it cannot tell). */
  onlineAgents(): Promise<AgentBaseline | undefined>;
  /** The routes the bake probes: health, and with the verification identity authenticated reads. */
  readonly probeRoutes: readonly string[];
  /** One request to a route, timed; with `version`, health must answer ok for that version. */
  probe(route: string, version: string | undefined): Promise<Probe>;
  /** The server's own counters (undefined when /metrics cannot be read: no token, no identity). */
  counters(): Promise<Counters | undefined>;
  /** The webhooks and their last deliveries (undefined without the verification identity). */
  webhooks(): Promise<WebhookState[] | undefined>;
  testWebhook(id: string): Promise<{ ok: boolean; detail: string }>;
  /** The rehearsal's smoke journey against this address, for `version` (`label` names what it makes there). */
  journey(version: string, label: string): Promise<JourneyResult>;
  /** Tells it what tpctl did (PUT `path`, as the verification identity): undefined once told, else why it was not. */
  tell(path: string, body: unknown): Promise<string | undefined>;
}

export interface Verification {
  auth: VerifyAuth;
  agentsWithinMs: number;
}

const READS = ['GET /api/incidents', 'GET /api/settings', 'GET /api/agents'];

/** The sum of a metric's samples whose labels include `label` (GET /metrics, text format). */
export function sumOf(metricsText: string, metric: string, label: RegExp): number {
  let sum = 0;
  for (const line of metricsText.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)/.exec(line);
    if (m?.[1] === metric && label.test(m[2] ?? '')) sum += Number(m[3]);
  }
  return sum;
}

/** The session of a run's sign-in, shared by every address the run reaches the Tenant Plane at. */
interface SignedIn {
  session: ReturnType<typeof signIn> | undefined;
}

export function tenantPlaneOverHttp(
  healthUrl: string,
  verify: Verification | undefined,
  metricsToken?: string,
  signed: SignedIn = { session: undefined },
): TenantPlane {
  const origin = new URL(healthUrl).origin;
  // One sign-in serves every authenticated probe of a run (a login costs a memory-hard hash),
  // on the candidate too: sessions live in the database every version shares.
  const signedIn = async () => {
    if (!verify) return { error: 'no verification identity' };
    // A sign-in that got no answer (a busy moment) is tried again next time; one refused is kept.
    signed.session ??= signIn(origin, verify.auth).catch((err: Error) => {
      signed.session = undefined;
      return { error: err.message };
    });
    return signed.session;
  };
  const asIdentity = async (path: string, init: RequestInit = {}): Promise<Answer | undefined> => {
    const s = await signedIn();
    if ('error' in s) return undefined;
    const answer = await request(`${origin}${path}`, { ...init, headers: { ...s.headers, ...init.headers } });
    if (answer.status === 401) signed.session = undefined;
    return answer;
  };
  return {
    healthUrl,
    at: (url) => tenantPlaneOverHttp(url, verify, metricsToken, signed),
    health: () => probeHealth(healthUrl),
    checklist:
      verify &&
      ((version, baseline) => runChecklist({ healthUrl, expectVersion: version, auth: verify.auth, agentsWithinMs: verify.agentsWithinMs, baseline })),
    async onlineAgents() {
      const s = await signedIn();
      return 'error' in s ? undefined : onlineAgents(origin, s.headers).catch(() => ({ agents: {}, since: new Date() }));
    },
    probeRoutes: ['GET /api/health', ...(verify ? READS : [])],
    async probe(route, version) {
      const started = performance.now();
      const ms = () => performance.now() - started;
      if (route === 'GET /api/health') {
        const evidence = await probeHealth(healthUrl);
        const problem = version ? healthProblem(evidence, version) : evidence.status === 200 ? undefined : (evidence.error ?? `HTTP ${evidence.status}`);
        return { route, ok: !problem, ms: ms(), detail: problem ?? 'ok' };
      }
      const s = await signedIn();
      if ('error' in s) return { route, ok: false, ms: ms(), detail: `the verification login failed: ${s.error}` };
      const answer = await asIdentity(route.slice('GET '.length)).catch((err: Error): Answer => ({ status: 0, body: { message: err.message } }));
      const ok = answer?.status === 200;
      return { route, ok, ms: ms(), detail: ok ? 'ok' : `HTTP ${answer?.status ?? '?'}: ${answer ? message(answer) : ''}` };
    },
    async counters() {
      const headers: Record<string, string> = {};
      if (metricsToken) headers.authorization = `Bearer ${metricsToken}`;
      else {
        const s = await signedIn();
        if ('error' in s) return undefined;
        Object.assign(headers, s.headers);
      }
      const res = await fetch(`${origin}/metrics`, { headers, signal: AbortSignal.timeout(5_000) }).catch(() => undefined);
      if (res?.status !== 200) return undefined;
      const text = await res.text();
      return {
        errors5xx: sumOf(text, 'atlas_http_requests_total', /status_class="5xx"/),
        webhookFailures: sumOf(text, 'atlas_webhook_deliveries_total', /outcome="(failed|retrying)"/),
        agentsOnline: sumOf(text, 'atlas_agents_online', /^$/),
      };
    },
    async webhooks() {
      const answer = await asIdentity('/api/admin/webhooks').catch(() => undefined);
      if (answer?.status !== 200) return undefined;
      const read = readAnswer<Webhooks>(webhooksAnswer, answer.body, 'GET /api/admin/webhooks');
      if (read instanceof AnswerError) return undefined; // cannot be read, as when not answered
      return read.webhooks.map((w) => ({ id: w.id, name: w.name, lastDelivery: w.deliveries.last }));
    },
    journey: (version, label) => runJourney(healthUrl, version, verify?.auth, label),
    async tell(path, body) {
      const s = await signedIn();
      if ('error' in s) return s.error;
      const put = () =>
        asIdentity(path, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).catch((err: Error): Answer => ({
          status: 0,
          body: { message: err.message },
        }));
      // A version on its way out answers 503 (and closes) on a connection kept alive from before
      // the switch, or closes it unanswered: the same PUT (it replaces, so it may be sent twice)
      // goes again, on a new connection, to the version that serves now.
      let answer = await put();
      for (let again = 0; again < 2 && answer && (answer.status === 0 || answer.status === 503); again++) answer = await put();
      if (!answer) return 'the verification login failed';
      return answer.status === 204 ? undefined : `PUT ${path}: ${answer.status ? `HTTP ${answer.status}` : 'no answer'}: ${message(answer)}`;
    },
    async testWebhook(id) {
      const answer = await asIdentity(`/api/admin/webhooks/${encodeURIComponent(id)}/test`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      }).catch((err: Error) => ({ status: 0, body: { message: err.message } }));
      const where = `POST /api/admin/webhooks/${id}/test`;
      if (!answer) return { ok: false, detail: `${where}: the verification login failed` };
      if (answer.status !== 200) return { ok: false, detail: `${where}: ${answer.status ? `HTTP ${answer.status}` : 'no answer'}: ${message(answer)}` };
      const b = readAnswer<WebhookTest>(webhookTestAnswer, answer.body, where);
      if (b instanceof AnswerError) return { ok: false, detail: b.message };
      return { ok: b.status === 'delivered', detail: b.status === 'delivered' ? 'delivered' : (b.error ?? `HTTP ${b.statusCode ?? 'none'}`) };
    },
  };
}
