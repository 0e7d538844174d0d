import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedPostgres } from '../support/backends.js';
import { AgentProcess } from '../support/agent-process.js';
import { ApiClient, eventually, loginFrom } from '../support/api-client.js';
import { startServer, type ServerProcess } from '../support/server-process.js';
import { tpctl } from '../support/tpctl.js';

/** tpctl verify, the recovery checklist, against a real Tenant Plane and a real edge agent. */
const admin = { ATLAS_ADMIN_EMAIL: 'admin@example.com', ATLAS_ADMIN_PASSWORD: 'verify-admin-pw-1' };
let tp: ServerProcess & { url: string };
let api: ApiClient;
let token: string;
let agent: AgentProcess;

beforeAll(async () => {
  tp = await startServer({ DB_URL: await sharedPostgres().createDatabase('verify'), ...admin });
  api = await ApiClient.login(tp.url, admin.ATLAS_ADMIN_EMAIL, admin.ATLAS_ADMIN_PASSWORD);
  token = (await api.post<{ token: { secret: string } }>('/api/tokens', { name: 'verification' })).body.token.secret;
  const enrollment = (await api.post<{ enrollmentToken: { token: string } }>('/api/admin/enrollment-tokens', { name: 'edge-v' })).body.enrollmentToken.token;
  agent = new AgentProcess({ server: tp.url, name: 'edge-v', checkinIntervalSeconds: 0.5 });
  expect((await agent.enroll(enrollment)).code).toBe(0);
  agent.start();
  await eventually('the agent to be online', async () =>
    (await api.get<{ agents: { online: boolean }[] }>('/api/agents')).body.agents[0]?.online ? true : undefined,
  );
});

afterAll(async () => {
  await agent.stop();
  tp.child.kill('SIGKILL');
});

const verify = (args: string[], env: Record<string, string>) => tpctl(['verify', ...args], { HEALTH_URL: `${tp.url}/api/health`, ...env });

describe('tpctl verify', () => {
  it('passes every check with evidence: health, login, version, agents back', async () => {
    const res = await verify(['--expect-version', '1.3.0', '--agents-within', '10'], { ATLAS_VERIFY_TOKEN: token });
    expect(res.stdout.trim().split('\n')).toEqual([
      expect.stringMatching(/^PASS health: GET http:\/\/127\.0\.0\.1:\d+\/api\/health: HTTP 200, "status":"ok", version 1\.3\.0$/) as string,
      'PASS login: API token of admin@example.com (admin) accepted by GET /api/me',
      'PASS version: GET /api/admin/license shows version 1.3.0',
      expect.stringMatching(/^PASS agents: 1 of 1 agents online before have reported in since \d{4}-/) as string,
      'all checks passed',
    ]);
    expect(res.code).toBe(0);
    const json = JSON.parse((await verify(['--json'], { ATLAS_VERIFY_TOKEN: token })).stdout) as { ok: boolean; checks: { name: string }[] };
    expect(json.ok).toBe(true);
    expect(json.checks.map((c) => c.name)).toEqual(['health', 'login', 'version', 'agents']);
  });

  it('500 wrong logins for the verification identity from another address do not lock it out; that address is throttled', async () => {
    await api.post('/api/admin/users', { email: 'gate@example.com', password: 'gate-account-pw-1', role: 'admin' });
    const codes = new Map<number, number>();
    for (let i = 0; i < 500; i++) {
      const status = await loginFrom('127.0.0.2', tp.url, { email: 'gate@example.com', password: `guess-${i}` });
      codes.set(status, (codes.get(status) ?? 0) + 1);
    }
    expect([...codes.keys()].sort()).toEqual([401, 429]);
    expect(await loginFrom('127.0.0.2', tp.url, { email: 'gate@example.com', password: 'gate-account-pw-1' })).toBe(429);
    const res = await verify(['--agents-within', '10'], { ATLAS_VERIFY_EMAIL: 'gate@example.com', ATLAS_VERIFY_PASSWORD: 'gate-account-pw-1' });
    expect(res.stdout).toContain('PASS login: POST /api/login as gate@example.com (admin) gave a session');
    expect(res.code).toBe(0);
  });

  it('fails the version check when another version is expected', async () => {
    const res = await verify(['--expect-version', '1.4.0', '--agents-within', '10'], { ATLAS_VERIFY_TOKEN: token });
    expect(res.code).toBe(1);
    expect(res.stdout).toContain('FAIL version: GET /api/admin/license shows version 1.3.0, expected 1.4.0');
  });

  it('fails the login check when the verification account is disabled', async () => {
    const created = await api.post<{ user: { id: string } }>('/api/admin/users', { email: 'verify@example.com', password: 'verify-account-pw', role: 'admin' });
    await api.call('PATCH', `/api/admin/users/${created.body.user.id}`, { disabled: true });
    const res = await verify([], { ATLAS_VERIFY_EMAIL: 'verify@example.com', ATLAS_VERIFY_PASSWORD: 'verify-account-pw' });
    expect(res.code).toBe(1);
    expect(res.stdout).toContain('FAIL login: POST /api/login as verify@example.com: HTTP 403: this account is disabled');
    expect(res.stdout).toContain('the checklist FAILED');
  });

  it('fails the agents check when an agent that was online does not come back in time', async () => {
    await agent.stop();
    const res = await verify(['--agents-within', '2'], { ATLAS_VERIFY_TOKEN: token });
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/FAIL agents: 0 of 1 agents reported in within 2 s; not back: edge-v \(last seen \d{4}-\d\d-\d\dT/);
    agent.start();
  });

  it('says what to set when no verification identity is given, and never takes a password as a flag', async () => {
    const res = await verify([], {});
    expect(res.code).toBe(1);
    expect(res.stdout).toContain('FAIL login: no verification identity: set ATLAS_VERIFY_TOKEN');
    const flag = await verify(['--password', 'x'], {});
    expect(flag.code).toBe(2);
  });
});
