import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  apiIndexAnswer,
  enrolledAnswer,
  enrollmentTokenCreatedAnswer,
  meAnswer,
  webhookCreatedAnswer,
  webhookTestAnswer,
  type ApiIndex,
  type Enrolled,
  type EnrollmentTokenCreated,
  type Me,
  type WebhookCreated,
  type WebhookTest,
} from '../../shared/api-shapes.js';
import { AnswerError, readAnswer } from '../../shared/answers.js';
import { healthProblem, probeHealth } from './health.js';
import { message, request, signIn, type Answer, type VerifyAuth } from './checklist.js';

/**
 * The smoke journey a rehearsal runs against a version started on a copy of the data: what an
 * operator would try by hand. Health for the version; a sign-in as the verification identity;
 * a read of every resource the API lists that the identity's role may read; an edge agent
 * enrolled and checking in; a webhook test delivery to a receiver of our own on loopback. It
 * writes to the copy only (an enrollment, a webhook): the copy is dropped afterwards.
 */
export interface JourneyCheck {
  name: string;
  ok: boolean;
  /** Not checked (no identity, or one whose role may not): neither passed nor failed. */
  skipped?: true;
  evidence: string;
}

export interface JourneyResult {
  passed: number;
  /** The checks made (the skipped ones are not counted). */
  total: number;
  checks: JourneyCheck[];
}

const ROLES = ['viewer', 'operator', 'admin'];
const permits = (role: string, access: string) => ROLES.includes(access) && ROLES.indexOf(role) >= ROLES.indexOf(access);

/** A receiver on loopback that records the deliveries it gets. */
async function receiver(): Promise<{ url: string; received: () => { signature: string | undefined }[]; close: () => Promise<void> }> {
  const got: { signature: string | undefined }[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    req.resume();
    req.on('end', () => {
      const signature = req.headers['x-atlas-signature'];
      got.push({ signature: typeof signature === 'string' ? signature : undefined });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/rehearsal`,
    received: () => got,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** The loopback address the journey's receiver listens on: the instance must be allowed to send there (ATLAS_WEBHOOK_ALLOW). */
export const JOURNEY_RECEIVER_HOST = '127.0.0.1';

export async function runJourney(healthUrl: string, version: string, auth: VerifyAuth | undefined, label: string): Promise<JourneyResult> {
  const origin = new URL(healthUrl).origin;
  const checks: JourneyCheck[] = [];
  const done = (): JourneyResult => {
    const made = checks.filter((c) => !c.skipped);
    return { passed: made.filter((c) => c.ok).length, total: made.length, checks };
  };
  const evidence = await probeHealth(healthUrl);
  const problem = healthProblem(evidence, version);
  checks.push({ name: 'health', ok: !problem, evidence: problem ?? `GET /api/health: ok for ${version}` });

  if (!auth) {
    const why = 'no verification identity (ATLAS_VERIFY_TOKEN, or ATLAS_VERIFY_EMAIL and ATLAS_VERIFY_PASSWORD)';
    checks.push({ name: 'sign-in', ok: false, skipped: true, evidence: `not checked: ${why}` });
    return done();
  }
  const session = await signIn(origin, auth).catch((err: Error) => ({ error: err.message }));
  if ('error' in session) {
    checks.push({ name: 'sign-in', ok: false, evidence: session.error });
    return done();
  }
  checks.push({ name: 'sign-in', ok: true, evidence: session.evidence });
  const call = (path: string, init: RequestInit = {}): Promise<Answer> =>
    request(`${origin}${path}`, {
      ...init,
      headers: { ...session.headers, ...(init.body ? { 'content-type': 'application/json' } : {}), ...init.headers },
    }).catch((err: Error): Answer => ({ status: 0, body: { message: err.message } }));
  const answered = (what: string, a: Answer) =>
    `${what}: ${a.status ? `HTTP ${a.status}` : 'no answer'}${a.status === 200 || a.status === 201 ? '' : `: ${message(a)}`}`;

  const me = await call('/api/me');
  const role = me.status === 200 ? readAnswer<Me>(meAnswer, me.body, 'GET /api/me') : undefined;
  const index = await call('/api');
  const routes = index.status === 200 ? readAnswer<ApiIndex>(apiIndexAnswer, index.body, 'GET /api') : undefined;
  if (!role || role instanceof AnswerError || !routes || routes instanceof AnswerError) {
    const why =
      role instanceof AnswerError
        ? role.message
        : routes instanceof AnswerError
          ? routes.message
          : answered('GET /api/me and GET /api', me.status === 200 ? index : me);
    checks.push({ name: 'reads', ok: false, evidence: why });
    return done();
  }
  const myRole = role.user.role;
  for (const r of routes.routes.filter((r) => r.method === 'GET' && !r.url.includes(':') && ROLES.includes(r.access))) {
    const name = `GET ${r.url}`;
    if (!permits(myRole, r.access)) {
      checks.push({ name, ok: false, skipped: true, evidence: `not checked: it needs ${r.access}, the verification identity is ${myRole}` });
      continue;
    }
    const read = await call(r.url);
    checks.push({ name, ok: read.status === 200, evidence: answered(name, read) });
  }

  if (myRole !== 'admin') {
    const why = `not checked: it needs an admin, the verification identity is ${myRole}`;
    checks.push({ name: 'agent check-in', ok: false, skipped: true, evidence: why }, { name: 'webhook delivery', ok: false, skipped: true, evidence: why });
    return done();
  }
  checks.push(await agentCheckIn(call, origin, label), await webhookDelivery(call, label));
  return done();
}

type Call = (path: string, init?: RequestInit) => Promise<Answer>;

async function agentCheckIn(call: Call, origin: string, label: string): Promise<JourneyCheck> {
  const name = 'agent check-in';
  const token = await call('/api/admin/enrollment-tokens', { method: 'POST', body: JSON.stringify({ name: label }) });
  const made =
    token.status === 201 ? readAnswer<EnrollmentTokenCreated>(enrollmentTokenCreatedAnswer, token.body, 'POST /api/admin/enrollment-tokens') : undefined;
  if (!made || made instanceof AnswerError)
    return { name, ok: false, evidence: made?.message ?? `POST /api/admin/enrollment-tokens: HTTP ${token.status}: ${message(token)}` };
  const enroll = await request(`${origin}/api/agents/enroll`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token: made.enrollmentToken.token, name: label }),
  }).catch((err: Error): Answer => ({ status: 0, body: { message: err.message } }));
  const enrolled = enroll.status === 201 ? readAnswer<Enrolled>(enrolledAnswer, enroll.body, 'POST /api/agents/enroll') : undefined;
  if (!enrolled || enrolled instanceof AnswerError)
    return { name, ok: false, evidence: enrolled?.message ?? `POST /api/agents/enroll: HTTP ${enroll.status}: ${message(enroll)}` };
  const checkin = await request(`${origin}/api/agent/checkin`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${enrolled.credential}` },
    body: JSON.stringify({ version: 'rehearsal' }),
  }).catch((err: Error): Answer => ({ status: 0, body: { message: err.message } }));
  return {
    name,
    ok: checkin.status === 200,
    evidence: checkin.status === 200 ? `agent ${label} enrolled and checked in` : `POST /api/agent/checkin: HTTP ${checkin.status}: ${message(checkin)}`,
  };
}

async function webhookDelivery(call: Call, label: string): Promise<JourneyCheck> {
  const name = 'webhook delivery';
  const hook = await receiver();
  try {
    const created = await call('/api/admin/webhooks', { method: 'POST', body: JSON.stringify({ name: label, url: hook.url, events: ['incident.created'] }) });
    const webhook = created.status === 201 ? readAnswer<WebhookCreated>(webhookCreatedAnswer, created.body, 'POST /api/admin/webhooks') : undefined;
    if (!webhook || webhook instanceof AnswerError)
      return { name, ok: false, evidence: webhook?.message ?? `POST /api/admin/webhooks: HTTP ${created.status}: ${message(created)}` };
    const where = `POST /api/admin/webhooks/${webhook.webhook.id}/test`;
    const test = await call(`/api/admin/webhooks/${encodeURIComponent(webhook.webhook.id)}/test`, { method: 'POST', body: '{}' });
    const sent = test.status === 200 ? readAnswer<WebhookTest>(webhookTestAnswer, test.body, where) : undefined;
    if (!sent || sent instanceof AnswerError) return { name, ok: false, evidence: sent?.message ?? `${where}: HTTP ${test.status}: ${message(test)}` };
    const signed = hook.received().some((r) => r.signature?.startsWith('t='));
    const ok = sent.status === 'delivered' && signed;
    return {
      name,
      ok,
      evidence: ok
        ? `a signed test delivery reached ${hook.url} (HTTP ${sent.statusCode ?? '?'})`
        : `${where}: ${sent.status}${sent.error ? ` (${sent.error})` : ''}; the receiver got ${hook.received().length} signed request(s)`,
    };
  } finally {
    await hook.close();
  }
}
