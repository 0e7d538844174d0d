import { describe, expect, it } from 'vitest';
import { ApiClient } from '../../support/api-client.js';
import { createBackup, setUp } from '../../support/backup-setup.js';
import { startServer } from '../../support/server-process.js';
import { tpctl } from '../../support/tpctl.js';

const ADMIN = { email: 'creds-admin@example.com', password: 'creds-admin-password-1' };

/** Requests as each credential kind authenticates: a session cookie, an API token, an agent's credential. */
const asSession = (base: string, cookie: string) => fetch(`${base}/api/me`, { headers: { cookie } }).then((r) => r.status);
const asToken = (base: string, token: string) => fetch(`${base}/api/me`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.status);
const asAgent = (base: string, credential: string) =>
  fetch(`${base}/api/agent/checkin`, {
    method: 'POST',
    headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json' },
    body: '{}',
  }).then((r) => r.status);

async function login(base: string, email: string, password: string): Promise<string> {
  const res = await fetch(`${base}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password }) });
  expect(res.status).toBe(200);
  return (res.headers.get('set-cookie') ?? '').split(';')[0]!;
}

describe.each(['postgres', 'embedded'] as const)('a restore on %s never brings a credential back', (kind) => {
  it('a session logged out, a token revoked, an agent revoked and a password changed after the backup all stay dead after restoring it; every session ends', async () => {
    const setup = await setUp(kind);
    const serverEnv: Record<string, string> = kind === 'postgres' ? { DB_URL: setup.env.DB_URL! } : { ATLAS_DATA_DIR: setup.env.ATLAS_DATA_DIR! };
    const created = await tpctl(['user', 'create', '--email', ADMIN.email, '--role', 'admin', '--password-stdin'], setup.env, { stdin: ADMIN.password });
    expect(created.code).toBe(0);
    let server = await startServer(serverEnv);
    const admin = await ApiClient.login(server.url, ADMIN.email, ADMIN.password);
    const loggedOut = await login(server.url, ADMIN.email, ADMIN.password);
    const kept = await login(server.url, ADMIN.email, ADMIN.password);
    const token = (await admin.post<{ token: { id: string; secret: string } }>('/api/tokens', { name: 'ci' })).body.token;
    const enrollment = (await admin.post<{ enrollmentToken: { token: string } }>('/api/admin/enrollment-tokens', { name: 'creds-edge' })).body.enrollmentToken;
    const enrolled = await fetch(`${server.url}/api/agents/enroll`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: enrollment.token, name: 'creds-edge' }),
    });
    expect(enrolled.status).toBe(201);
    const agent = (await enrolled.json()) as { agent: { id: string }; credential: string };
    expect([await asSession(server.url, loggedOut), await asToken(server.url, token.secret), await asAgent(server.url, agent.credential)]).toEqual([
      200, 200, 200,
    ]);
    server.child.kill('SIGTERM');
    await server.exited;

    const file = await createBackup(setup);

    server = await startServer(serverEnv);
    admin.base = server.url;
    expect(
      (await fetch(`${server.url}/api/logout`, { method: 'POST', headers: { cookie: loggedOut, 'content-type': 'application/json' }, body: '{}' })).status,
    ).toBe(204);
    expect((await admin.call('DELETE', `/api/tokens/${token.id}`)).status).toBe(204);
    expect((await admin.call('DELETE', `/api/admin/agents/${agent.agent.id}`)).status).toBe(204);
    const newPassword = 'creds-admin-password-2';
    const me = (await admin.get<{ user: { id: string } }>('/api/me')).body.user;
    expect((await admin.call('PATCH', `/api/admin/users/${me.id}`, { password: newPassword })).status).toBe(200);
    server.child.kill('SIGTERM');
    await server.exited;

    const restored = await tpctl(['restore', file], setup.env);
    expect(restored.stderr).toBe('');
    expect(restored.code).toBe(0);
    expect(restored.stdout).toMatch(/^sessions ended: [1-9]\d* \(everyone signs in again\)$/m);
    expect(restored.stdout).toMatch(/^API tokens kept revoked, as they are now \(1\): atp_[\w-]+ \(ci\)$/m);
    expect(restored.stdout).toMatch(/^agents kept revoked, as they are now \(1\): creds-edge$/m);
    expect(restored.stdout).toContain(`users kept as they are now (1): ${ADMIN.email} (password changed since)`);

    server = await startServer(serverEnv);
    try {
      expect([
        await asSession(server.url, loggedOut),
        await asSession(server.url, kept),
        await asToken(server.url, token.secret),
        await asAgent(server.url, agent.credential),
      ]).toEqual([401, 401, 401, 401]);
      const old = await fetch(`${server.url}/api/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: ADMIN.email, password: ADMIN.password }),
      });
      expect(old.status).toBe(401);
      await login(server.url, ADMIN.email, newPassword);
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  });
});
