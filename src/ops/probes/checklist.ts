import { setTimeout as sleep } from 'node:timers/promises';
import { agentsAnswer, licenseAnswer, meAnswer, userAnswer, type Agent, type Agents, type License, type Me, type UserAnswer } from '../../shared/api-shapes.js';
import { errorMessage, shaped } from '../../shared/answers.js';
import { isObject, parseJson } from '../../shared/json.js';

/**
 * The operator guide's recovery checklist, as checks against a running Tenant Plane over HTTP:
 * health ok, the right version in GET /api/admin/license, a login that works, and every edge
 * agent that was online before the operation reported in since.
 */
export type VerifyAuth = { token: string } | { email: string; password: string };

export interface Check {
  name: 'health' | 'version' | 'login' | 'agents';
  ok: boolean;
  evidence: string;
}

export interface AgentBaseline {
  /** The agents online before the operation: id → name. */
  agents: Record<string, string>;
  /** They must report in after this moment. */
  since: Date;
}

export interface ChecklistPlan {
  healthUrl: string;
  expectVersion: string | undefined;
  auth: VerifyAuth | undefined;
  agentsWithinMs: number;
  /** Default: the agents online when the checklist starts. */
  baseline?: AgentBaseline | undefined;
}

export interface Answer {
  status: number;
  body: Record<string, unknown>;
}

export async function request(url: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(5_000) });
  const text = await res.text();
  const parsed = parseJson(text)?.value;
  return { status: res.status, body: isObject(parsed) ? parsed : { message: text.slice(0, 200) } };
}

/** The message of an error answer. */
export const message = (answer: Answer) => errorMessage(answer.body);

/** Signs in as the verification identity; returns the header that proves it, or why it could not. */
export async function signIn(origin: string, auth: VerifyAuth): Promise<{ headers: Record<string, string>; evidence: string } | { error: string }> {
  if ('token' in auth) {
    const headers = { authorization: `Bearer ${auth.token}` };
    const me = await request(`${origin}/api/me`, { headers });
    if (me.status !== 200) return { error: `GET /api/me with the API token in ATLAS_VERIFY_TOKEN: HTTP ${me.status}: ${message(me)}` };
    const { user } = shaped<Me>(meAnswer, me.body, 'GET /api/me');
    return { headers, evidence: `API token of ${user.email} (${user.role}) accepted by GET /api/me` };
  }
  const res = await fetch(`${origin}/api/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: auth.email, password: auth.password }),
    signal: AbortSignal.timeout(5_000),
  });
  const body: unknown = await res.json().catch(() => ({}));
  if (res.status !== 200) return { error: `POST /api/login as ${auth.email}: HTTP ${res.status}: ${errorMessage(body)}` };
  const { user } = shaped<UserAnswer>(userAnswer, body, 'POST /api/login');
  const cookie = (res.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  return { headers: { cookie }, evidence: `POST /api/login as ${auth.email} (${user.role}) gave a session` };
}

async function listAgents(origin: string, headers: Record<string, string>): Promise<Agent[]> {
  const res = await request(`${origin}/api/agents`, { headers });
  if (res.status !== 200) throw new Error(`GET /api/agents: HTTP ${res.status}: ${message(res)}`);
  return shaped<Agents>(agentsAnswer, res.body, 'GET /api/agents').agents;
}

/** The agents online now, as a signed-in caller sees them: the baseline they must report in after. */
export async function onlineAgents(origin: string, headers: Record<string, string>): Promise<AgentBaseline> {
  const agents = await listAgents(origin, headers);
  return { agents: Object.fromEntries(agents.filter((a) => a.online).map((a) => [a.id, a.name])), since: new Date() };
}

export async function runChecklist(plan: ChecklistPlan): Promise<{ ok: boolean; checks: Check[] }> {
  const origin = new URL(plan.healthUrl).origin;
  const checks: Check[] = [];

  const health = await request(plan.healthUrl).catch((err: Error): Answer => ({ status: 0, body: { message: err.message } }));
  const healthVersion = typeof health.body.version === 'string' ? health.body.version : undefined;
  checks.push({
    name: 'health',
    ok: health.status === 200 && health.body.status === 'ok',
    evidence: health.status
      ? `GET ${plan.healthUrl}: HTTP ${health.status}, "status":"${typeof health.body.status === 'string' ? health.body.status : '?'}", version ${healthVersion ?? '?'}`
      : `GET ${plan.healthUrl}: no answer (${message(health)})`,
  });

  const expected = plan.expectVersion ?? healthVersion;
  if (!plan.auth) {
    const missing = 'no verification identity: set ATLAS_VERIFY_TOKEN (an API token of an admin) or ATLAS_VERIFY_EMAIL and ATLAS_VERIFY_PASSWORD';
    checks.push({ name: 'login', ok: false, evidence: missing }, { name: 'version', ok: false, evidence: `GET /api/admin/license needs a login: ${missing}` });
    return { ok: false, checks };
  }
  const session = await signIn(origin, plan.auth).catch((err: Error) => ({ error: err.message }));
  if ('error' in session) {
    checks.push({ name: 'login', ok: false, evidence: session.error }, { name: 'version', ok: false, evidence: 'not checked: the login failed' });
    return { ok: false, checks };
  }
  checks.push({ name: 'login', ok: true, evidence: session.evidence });

  const license = await request(`${origin}/api/admin/license`, { headers: session.headers });
  let shown: string | undefined;
  try {
    shown = license.status === 200 ? shaped<License>(licenseAnswer, license.body, 'GET /api/admin/license').version : undefined;
  } catch (err) {
    checks.push({ name: 'version', ok: false, evidence: (err as Error).message });
    return { ok: false, checks };
  }
  checks.push({
    name: 'version',
    ok: license.status === 200 && shown === expected,
    evidence:
      license.status === 200
        ? `GET /api/admin/license shows version ${shown ?? '?'}${shown === expected ? '' : `, expected ${expected ?? '?'}`}`
        : `GET /api/admin/license: HTTP ${license.status}: ${message(license)}`,
  });

  const baseline = plan.baseline ?? (await onlineAgents(origin, session.headers));
  const waiting = new Set(Object.keys(baseline.agents));
  const deadline = Date.now() + plan.agentsWithinMs;
  for (;;) {
    const agents = await listAgents(origin, session.headers).catch((): Agent[] => []);
    for (const a of agents) if (a.lastSeenAt && Date.parse(a.lastSeenAt) > baseline.since.getTime()) waiting.delete(a.id);
    if (waiting.size === 0 || Date.now() >= deadline) {
      const total = Object.keys(baseline.agents).length;
      const late = [...waiting].map((id) => {
        const seen = agents.find((a) => a.id === id)?.lastSeenAt;
        return `${baseline.agents[id]} (last seen ${seen ?? 'never'})`;
      });
      checks.push({
        name: 'agents',
        ok: waiting.size === 0,
        evidence:
          waiting.size === 0
            ? `${total} of ${total} agents online before have reported in since ${baseline.since.toISOString()}`
            : `${total - waiting.size} of ${total} agents reported in within ${Math.round(plan.agentsWithinMs / 1000)} s; not back: ${late.join(', ')}`,
      });
      break;
    }
    await sleep(500);
  }
  return { ok: checks.every((c) => c.ok), checks };
}
