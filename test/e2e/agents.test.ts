import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedPostgres } from '../support/backends.js';
import { tempDir } from '../support/temp.js';
import { AgentProcess } from '../support/agent-process.js';
import { ApiClient, eventually } from '../support/api-client.js';
import { freePort } from '../support/postgres-server.js';
import { startServer, type ServerProcess } from '../support/server-process.js';

const admin = { ATLAS_ADMIN_EMAIL: 'admin@example.com', ATLAS_ADMIN_PASSWORD: 'agents-admin-pw-1' };
const shared = tempDir('atlas-shared-');
const RUNBOOKS = {
  hello: { command: ['sh', '-c', 'echo hello from $(hostname); echo to stderr >&2; exit 3'] },
  quick: { command: ['true'] },
  slow: { command: ['sleep', '1.5'] },
  hang: { command: ['sleep', '31.4159'], timeoutSeconds: 1 },
  record: { command: ['sh', '-c', `echo run >> ${path.join(shared, 'runs')}`] },
  // A NUL, a byte that is not UTF-8, then text: what no text column can hold as printed.
  binary: { command: ['printf', 'a\\000b\\377c é'] },
};

let dbUrl: string;
let port: number;
let tp: ServerProcess & { url: string };
let api: ApiClient;
const agents: AgentProcess[] = [];
const servers: ServerProcess[] = [];
const env = () => ({
  DB_URL: dbUrl,
  ATLAS_PORT: String(port),
  ATLAS_WEBHOOK_POLL_MS: '100',
  ATLAS_WEBHOOK_BACKOFF_MS: '100',
  ATLAS_WEBHOOK_MAX_ATTEMPTS: '3',
  ATLAS_WEBHOOK_ALLOW: '127.0.0.1',
  ...admin,
});

async function startTp(): Promise<void> {
  tp = await startServer(env());
  servers.push(tp);
}

async function enrolledAgent(
  name: string,
  runbooks = RUNBOOKS,
  extra: Partial<ConstructorParameters<typeof AgentProcess>[0]> = {},
): Promise<AgentProcess & { id: string }> {
  const token = await api.post<{ enrollmentToken: { token: string } }>('/api/admin/enrollment-tokens', { name, labels: ['site-a'] });
  const agent = new AgentProcess({ server: tp.url, name, runbooks, ...extra });
  const enrolled = await agent.enroll(token.body.enrollmentToken.token);
  expect(enrolled.code).toBe(0);
  agent.start();
  agents.push(agent);
  const id = (JSON.parse(readFileSync(path.join(agent.stateDir, 'credential.json'), 'utf8')) as { agentId: string }).agentId;
  return Object.assign(agent, { id });
}

type Execution = { id: string; status: string; exitCode: number | null; output: string; error: string | null; agentId: string };
async function runOn(agentId: string, runbook: string, target: { label: string } | { agentId: string } = { agentId }): Promise<Execution> {
  const created = await api.post<{ executions: Execution[] }>('/api/executions', { runbook, ...target });
  expect(created.status, created.text).toBe(201);
  const id = created.body.executions.find((e) => e.agentId === agentId)!.id;
  return eventually(`execution ${runbook} to finish`, async () => {
    const e = (await api.get<{ execution: Execution }>(`/api/executions/${id}`)).body.execution;
    return ['queued', 'running'].includes(e.status) ? undefined : e;
  });
}

beforeAll(async () => {
  dbUrl = await sharedPostgres().createDatabase('agents');
  port = await freePort();
  await startTp();
  api = await ApiClient.login(tp.url, admin.ATLAS_ADMIN_EMAIL, admin.ATLAS_ADMIN_PASSWORD);
});

afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  for (const s of servers) s.child.kill('SIGKILL');
});

describe('edge agents against hostile input (security review, finding 4 and 7)', () => {
  it('a runbook named like an inherited property is refused, binary output is stored escaped, and the agent goes on claiming work', async () => {
    const agent = await enrolledAgent('edge-hostile');
    // By label, the Tenant Plane hands out any runbook name: the agent alone decides.
    expect(await runOn(agent.id, 'constructor', { label: 'site-a' })).toMatchObject({
      status: 'refused',
      error: expect.stringContaining('runbook "constructor" is not defined') as unknown,
    });
    expect(await runOn(agent.id, 'toString', { label: 'site-a' })).toMatchObject({ status: 'refused' });
    expect(await runOn(agent.id, 'binary')).toMatchObject({ status: 'succeeded', output: 'a\\x00b\\xffc é' });
    expect(await runOn(agent.id, 'quick')).toMatchObject({ status: 'succeeded' });
  });

  it('an execution id that is not a UUID (a Tenant Plane that lies) never becomes a file name; a result refused for good is dropped and work goes on', async () => {
    const stolen = path.join(tempDir('atlas-outside-'), 'x');
    const hostileId = `../../../../../../../..${stolen}`;
    const validId = '0b7a4c52-8d1e-4c3a-9f0e-2d6b1a7c9e44';
    let claims = 0;
    let enrollments = 0;
    const results: string[] = [];
    const fake = http.createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      if (req.url === '/api/agents/enroll') {
        // First an answer of another shape (no name, an id that is not a UUID), then a right one.
        const agent = ++enrollments === 1 ? { id: 'a1' } : { id: validId, name: 'edge-lied-to', labels: [] };
        return res.writeHead(201).end(JSON.stringify({ agent, credential: `aga_${'x'.repeat(43)}` }));
      }
      if (req.url === '/api/agent/executions/claim') {
        claims++;
        if (claims === 1) return res.end(JSON.stringify({ execution: { id: hostileId, runbook: 'quick' } }));
        if (claims === 2) return res.end(JSON.stringify({ execution: { id: validId, runbook: 'quick' } }));
        return setTimeout(() => res.writeHead(204).end(), 200);
      }
      if (req.url?.endsWith('/result')) {
        results.push(req.url);
        return res.writeHead(400).end(JSON.stringify({ error: 'bad_request', message: 'not a result this Tenant Plane takes' }));
      }
      // A check-in answered by something else (a proxy's page): retried, never a crash.
      if (req.url === '/api/agent/checkin') return res.end('<html>502 from a proxy</html>');
      return res.end('{}');
    });
    await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
    const agent = new AgentProcess({ server: `http://127.0.0.1:${(fake.address() as AddressInfo).port}`, name: 'edge-lied-to', runbooks: RUNBOOKS });
    try {
      const refused = await agent.enroll('aet_fake');
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(
        /^atlas-edge-agent: POST \/api\/agents\/enroll answered a body of another shape: body\/agent must have required property '\w+'/m,
      );
      expect((await agent.enroll('aet_fake')).code).toBe(0);
      agent.start();
      await eventually('the agent to refuse the execution', async () => (agent.output.includes('not one') ? true : undefined));
      expect(existsSync(`${stolen}.json`)).toBe(false);
      await eventually('the agent to claim again after its result was refused', async () => (claims >= 3 ? true : undefined));
      expect(results).toEqual([`/api/agent/executions/${validId}/result`]);
      expect(agent.output).toContain('the Tenant Plane refused this result for good; it is dropped');
      expect(agent.output).toMatch(
        /HTTP 200 with a body that is not a JSON object.*the Tenant Plane is unreachable; retrying|the Tenant Plane is unreachable; retrying.*HTTP 200 with a body that is not a JSON object/,
      );
      expect(readdirSync(path.join(agent.stateDir, 'results'))).toEqual([]);
    } finally {
      await agent.stop();
      fake.close();
    }
  });
});

describe('edge agents', () => {
  it('enroll with a one-time token, report in, and their last-seen time moves', async () => {
    const agent = await enrolledAgent('edge-1');
    type Agent = { id: string; online: boolean; version: string; hostname: string; runbooks: string[]; lastSeenAt: string; labels: string[] };
    const first = await eventually('edge-1 to report in', async () => {
      const a = (await api.get<{ agents: Agent[] }>('/api/agents')).body.agents.find((x) => x.id === agent.id);
      return a?.online && a.runbooks.length ? a : undefined;
    });
    expect(first).toMatchObject({ version: '1.3.0', labels: ['site-a'], runbooks: Object.keys(RUNBOOKS) });
    expect(first.hostname).toBeTruthy();
    const later = await eventually('last-seen to move', async () => {
      const a = (await api.get<{ agent: Agent }>(`/api/agents/${agent.id}`)).body.agent;
      return Date.parse(a.lastSeenAt) > Date.parse(first.lastSeenAt) ? a : undefined;
    });
    expect(later.online).toBe(true);
  });

  it('run an execution end to end, with output and exit code', async () => {
    const agent = await enrolledAgent('edge-run');
    const failed = await runOn(agent.id, 'hello');
    expect(failed).toMatchObject({ status: 'failed', exitCode: 3 });
    expect(failed.output).toMatch(/hello from .*\n/);
    expect(failed.output).toContain('to stderr');
    expect(await runOn(agent.id, 'quick')).toMatchObject({ status: 'succeeded', exitCode: 0 });
  });

  it('refuse a runbook they do not define: the Tenant Plane names runbooks, it never sends commands', async () => {
    const agent = await enrolledAgent('edge-refuse');
    const refused = await runOn(agent.id, 'rm-everything');
    expect(refused).toMatchObject({ status: 'refused', exitCode: null, output: '' });
    expect(refused.error).toContain(`runbook "rm-everything" is not defined in this agent's configuration`);
  });

  it('kill a runbook past its timeout and record it as timed out', async () => {
    const agent = await enrolledAgent('edge-timeout');
    const timedOut = await runOn(agent.id, 'hang');
    expect(timedOut).toMatchObject({ status: 'timed_out', exitCode: null, error: 'killed after its timeout of 1 s' });
    expect(() => execFileSync('pgrep', ['-f', 'sleep 31.4159'])).toThrow();
  });

  it('come back within the backoff cap after the Tenant Plane was down, and keep results finished meanwhile', async () => {
    const a = await enrolledAgent('edge-back-1', RUNBOOKS, { backoffCapSeconds: 2 });
    const b = await enrolledAgent('edge-back-2', RUNBOOKS, { backoffCapSeconds: 2 });
    const slow = await api.post<{ executions: Execution[] }>('/api/executions', { runbook: 'slow', agentId: a.id });
    await eventually('the slow runbook to start', async () =>
      (await api.get<{ execution: Execution }>(`/api/executions/${slow.body.executions[0]!.id}`)).body.execution.status === 'running' ? true : undefined,
    );

    tp.child.kill('SIGTERM');
    await tp.exited;
    await new Promise((r) => setTimeout(r, 3_000)); // both agents back off; the runbook finishes meanwhile
    await startTp();
    const back = Date.now();
    // Every agent must report in within one backoff cap (2 s), plus its check-in interval and slack.
    await eventually(
      'both agents to report in again',
      async () => {
        const list = (await api.get<{ agents: { id: string; lastSeenAt: string }[] }>('/api/agents')).body.agents;
        return [a.id, b.id].every((id) => Date.parse(list.find((x) => x.id === id)?.lastSeenAt ?? '0') >= back - 50) ? true : undefined;
      },
      2 + 0.5 + 1.5,
    );
    const result = await eventually('the result kept through the outage', async () => {
      const e = (await api.get<{ execution: Execution }>(`/api/executions/${slow.body.executions[0]!.id}`)).body.execution;
      return e.status === 'running' ? undefined : e;
    });
    expect(result).toMatchObject({ status: 'succeeded', exitCode: 0 });
    expect(a.output).toMatch(/the Tenant Plane is unreachable; retrying/);
  });

  it('never run one execution twice, with two Tenant Plane processes and two agent processes on one identity', async () => {
    const first = await enrolledAgent('edge-pair');
    const other = new ApiClient(tp.url);
    const second = await startServer({ ...env(), ATLAS_PORT: String(await freePort()) });
    servers.push(second);
    other.base = second.url;
    // A second process with the same credential, talking to the other replica.
    const twin = new AgentProcess({ server: second.url, name: 'edge-pair', runbooks: RUNBOOKS });
    cpSync(first.stateDir, twin.stateDir, { recursive: true });
    twin.start();
    agents.push(twin);

    const created = await api.post<{ executions: Execution[] }>('/api/executions', { runbook: 'record', agentId: first.id });
    const ids = [created.body.executions[0]!.id];
    for (let i = 1; i < 30; i++)
      ids.push((await api.post<{ executions: Execution[] }>('/api/executions', { runbook: 'record', agentId: first.id })).body.executions[0]!.id);
    await eventually(
      'all 30 executions to finish',
      async () => {
        const list = (await api.get<{ executions: Execution[] }>(`/api/executions?agentId=${first.id}&limit=200`)).body.executions;
        return list.filter((e) => e.status === 'succeeded').length === 30 ? true : undefined;
      },
      60,
    );
    expect(readFileSync(path.join(shared, 'runs'), 'utf8').trim().split('\n')).toHaveLength(30);
    // Both processes did take work: the claims really raced.
    const ran = (output: string) => output.split('\n').filter((l) => l.includes('"msg":"running"')).length;
    expect(ran(first.output)).toBeGreaterThan(0);
    expect(ran(twin.output)).toBeGreaterThan(0);
    expect(ran(first.output) + ran(twin.output)).toBe(30);
    // Fan-out by label: one execution per agent with the label, each run by its own agent.
    const fan = await api.post<{ executions: (Execution & { agentId: string })[] }>('/api/executions', { runbook: 'quick', label: 'site-a' });
    expect(new Set(fan.body.executions.map((e) => e.agentId)).size).toBe(fan.body.executions.length);
  });

  it('refuse a reused or revoked enrollment token, and a revoked agent credential', async () => {
    const token = await api.post<{ enrollmentToken: { id: string; token: string } }>('/api/admin/enrollment-tokens', { name: 'once' });
    const first = new AgentProcess({ server: tp.url, name: 'edge-once' });
    expect((await first.enroll(token.body.enrollmentToken.token)).code).toBe(0);
    const again = new AgentProcess({ server: tp.url, name: 'edge-twice' });
    const reused = await again.enroll(token.body.enrollmentToken.token);
    expect(reused.code).toBe(2);
    expect(reused.stderr).toContain(
      'enrollment refused (HTTP 401): this enrollment token is not valid: it was used already, revoked, expired, or never issued',
    );

    const revokedToken = await api.post<{ enrollmentToken: { id: string; token: string } }>('/api/admin/enrollment-tokens', { name: 'revoked' });
    expect((await api.call('DELETE', `/api/admin/enrollment-tokens/${revokedToken.body.enrollmentToken.id}`)).status).toBe(204);
    expect((await new AgentProcess({ server: tp.url, name: 'edge-r' }).enroll(revokedToken.body.enrollmentToken.token)).code).toBe(2);

    const agent = await enrolledAgent('edge-revoked');
    expect((await api.call('DELETE', `/api/admin/agents/${agent.id}`)).status).toBe(204);
    expect(await agent.exited).toBe(3);
    expect(agent.output).toMatch(/the Tenant Plane refused this agent: enroll it again with a new token/);
  });

  it('never shows a credential, a token or a webhook secret again', async () => {
    const agent = await enrolledAgent('edge-secret');
    const credential = (JSON.parse(readFileSync(path.join(agent.stateDir, 'credential.json'), 'utf8')) as { credential: string }).credential;
    const hook = await api.post<{ secret: string; webhook: { id: string } }>('/api/admin/webhooks', {
      name: 'x',
      url: 'http://127.0.0.1:9/hook',
      events: ['incident.created'],
    });
    for (const p of [
      '/api/agents',
      `/api/agents/${agent.id}`,
      '/api/admin/enrollment-tokens',
      '/api/admin/webhooks',
      `/api/admin/webhooks/${hook.body.webhook.id}/deliveries`,
      '/api/executions',
    ]) {
      const res = await api.get(p);
      expect(res.status).toBe(200);
      expect(res.text).not.toContain(credential);
      expect(res.text).not.toContain(hook.body.secret);
      expect(res.text).not.toMatch(/aet_|aga_|whs_|hash/);
    }
    // An agent cannot report on another agent's execution.
    const other = await enrolledAgent('edge-other');
    const queued = await api.post<{ executions: Execution[] }>('/api/executions', { runbook: 'slow', agentId: other.id });
    const forged = await fetch(`${tp.url}/api/agent/executions/${queued.body.executions[0]!.id}/result`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${credential}` },
      body: JSON.stringify({ status: 'succeeded', exitCode: 0, output: 'forged' }),
    });
    expect(forged.status).toBe(404);
  });
});

describe('incidents and webhooks', () => {
  interface Received {
    event: string;
    delivery: string;
    body: string;
    signatureValid: boolean;
  }
  let receiver: http.Server;
  let receiverUrl: string;
  const received: Received[] = [];
  const failFirst = new Map<string, number>();
  const attemptsLeft = new Map<string, number>();
  const secrets = new Map<string, string>();

  beforeAll(async () => {
    receiver = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        const hook = req.url!.slice(1);
        // Verify as a receiver would, from the documented scheme: t=<ts>,v1=<hex HMAC-SHA256("<t>.<body>")>.
        const [t, v1] = String(req.headers['x-atlas-signature'])
          .split(',')
          .map((p) => p.split('=')[1] ?? '');
        const expected = createHmac('sha256', secrets.get(hook) ?? '')
          .update(`${t}.${body}`)
          .digest();
        const signatureValid = Boolean(v1) && Buffer.from(v1!, 'hex').length === expected.length && timingSafeEqual(Buffer.from(v1!, 'hex'), expected);
        received.push({ event: String(req.headers['x-atlas-event']), delivery: String(req.headers['x-atlas-delivery']), body, signatureValid });
        // Each delivery of a webhook fails its first `failFirst` attempts.
        const key = `${hook}/${String(req.headers['x-atlas-delivery'])}`;
        const left = attemptsLeft.get(key) ?? failFirst.get(hook) ?? 0;
        attemptsLeft.set(key, left - 1);
        res.statusCode = left > 0 ? 500 : 200;
        res.end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  });
  afterAll(() => receiver.close());

  async function webhook(name: string, failures: number): Promise<string> {
    const res = await api.post<{ webhook: { id: string }; secret: string }>('/api/admin/webhooks', {
      name,
      url: `${receiverUrl}/${name}`,
      events: ['incident.created', 'incident.acknowledged', 'incident.resolved', 'incident.execution_finished'],
    });
    expect(res.status).toBe(201);
    secrets.set(name, res.body.secret);
    failFirst.set(name, failures);
    return res.body.webhook.id;
  }

  type Delivery = { status: string; attempts: number; lastStatusCode: number | null; event: string };
  const deliveries = async (id: string) => (await api.get<{ deliveries: Delivery[] }>(`/api/admin/webhooks/${id}/deliveries`)).body.deliveries;

  it('an incident is acknowledged, runs a runbook, is resolved: a timeline, signed webhooks, retries on 500, none past the limit', async () => {
    const flaky = await webhook('flaky', 2);
    const broken = await webhook('broken', 100);
    const agent = await enrolledAgent('edge-incident');
    const created = await api.post<{ incident: { id: number; status: string } }>('/api/incidents', {
      title: 'Disk full on edge-incident',
      severity: 'high',
      description: 'df says 100%',
    });
    expect(created).toMatchObject({ status: 201, body: { incident: { status: 'open' } } });
    const id = created.body.incident.id;
    expect((await api.post(`/api/incidents/${id}/acknowledge`, { note: 'looking' })).body).toMatchObject({ incident: { status: 'acknowledged' } });
    const started = await api.post<{ executions: { id: string }[] }>(`/api/incidents/${id}/runbooks`, { runbook: 'quick', agentId: agent.id });
    expect(started.status).toBe(201);
    await eventually('the runbook to finish', async () =>
      (await api.get<{ execution: { status: string } }>(`/api/executions/${started.body.executions[0]!.id}`)).body.execution.status === 'succeeded'
        ? true
        : undefined,
    );
    expect((await api.post(`/api/incidents/${id}/resolve`, { note: 'cleaned up' })).body).toMatchObject({ incident: { status: 'resolved' } });
    expect((await api.post(`/api/incidents/${id}/resolve`)).status).toBe(409);

    const detail = await api.get<{ timeline: { kind: string; actor: string }[]; executions: { status: string }[] }>(`/api/incidents/${id}`);
    expect(detail.body.timeline.map((e) => e.kind)).toEqual(['created', 'acknowledged', 'execution_started', 'execution_finished', 'resolved']);
    expect(detail.body.timeline[3]?.actor).toBe('edge-incident');
    expect(detail.body.executions).toEqual([expect.objectContaining({ status: 'succeeded' })]);

    const flakyDone = await eventually('the flaky webhook to get every event through', async () => {
      const list = await deliveries(flaky);
      return list.length === 4 && list.every((d) => d.status === 'delivered') ? list : undefined;
    });
    expect(flakyDone.map((d) => d.event).reverse()).toEqual(['incident.created', 'incident.acknowledged', 'incident.execution_finished', 'incident.resolved']);
    expect(Math.max(...flakyDone.map((d) => d.attempts))).toBe(3);
    const brokenDone = await eventually('the broken webhook to give up', async () => {
      const list = await deliveries(broken);
      return list.length === 4 && list.every((d) => d.status === 'failed') ? list : undefined;
    });
    expect(brokenDone.every((d) => d.attempts === 3 && d.lastStatusCode === 500)).toBe(true);
    await new Promise((r) => setTimeout(r, 500));
    // Four events to two webhooks, three attempts each: the flaky one succeeds at the third.
    expect(received.filter((r) => r.body.includes(`"id":${id}`)).length).toBe(4 * 3 + 4 * 3);
    expect(received.every((r) => r.signatureValid)).toBe(true);
    const list = await api.get<{ webhooks: { id: string; deliveries: { failed: number; last: { status: string } } }[] }>('/api/admin/webhooks');
    expect(list.body.webhooks.find((w) => w.id === broken)?.deliveries).toMatchObject({ failed: 4, last: { status: 'failed' } });
  });

  it('sends a test delivery on demand and reports its outcome', async () => {
    const id = await webhook('tested', 0);
    const res = await api.post(`/api/admin/webhooks/${id}/test`);
    expect(res.body).toMatchObject({ status: 'delivered', statusCode: 200, error: null });
    expect(received.at(-1)).toMatchObject({ event: 'test', signatureValid: true });
  });

  it('lists incidents with filters and pages', async () => {
    for (let i = 0; i < 5; i++) await api.post('/api/incidents', { title: `Page test ${i}`, severity: i % 2 ? 'low' : 'critical' });
    const first = await api.get<{ incidents: { id: number; title: string }[]; nextBefore: number | null }>('/api/incidents?q=Page%20test&limit=2');
    expect(first.body.incidents.map((i) => i.title)).toEqual(['Page test 4', 'Page test 3']);
    const second = await api.get<{ incidents: { title: string }[] }>(`/api/incidents?q=Page%20test&limit=2&before=${first.body.nextBefore}`);
    expect(second.body.incidents.map((i) => i.title)).toEqual(['Page test 2', 'Page test 1']);
    const critical = await api.get<{ incidents: { severity: string }[] }>('/api/incidents?q=Page%20test&severity=critical');
    expect(critical.body.incidents).toHaveLength(3);
    expect((await api.get('/api/incidents?severity=apocalyptic')).status).toBe(400);
    expect((await api.post('/api/incidents', { title: ' ', severity: 'low' })).status).toBe(400);
  });
});
