import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedPostgres } from '../support/backends.js';
import { eventually } from '../support/api-client.js';
import { startServer, type ServerProcess } from '../support/server-process.js';

/**
 * Three replicas on one PostgreSQL database, each keeping the credentials it checked and the
 * settings in memory: whatever ends a credential on one is refused by all three in the very next
 * request, and a change written by none of them (psql) within a moment.
 */
const ADMIN = { ATLAS_ADMIN_EMAIL: 'admin@example.com', ATLAS_ADMIN_PASSWORD: 'admin-password-0451' };
let url: string;
let replicas: (ServerProcess & { url: string })[];

async function call(replica: { url: string }, path: string, init: { method?: string; headers?: Record<string, string>; body?: unknown } = {}) {
  const res = await fetch(`${replica.url}${path}`, {
    method: init.method ?? 'GET',
    headers: { ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}), ...init.headers },
    body: init.body !== undefined ? JSON.stringify(init.body) : undefined,
  });
  const text = await res.text();
  return {
    status: res.status,
    body: (text ? JSON.parse(text) : undefined) as Record<string, unknown> | undefined,
    cookie: res.headers
      .getSetCookie()
      .map((c) => c.split(';')[0])
      .join('; '),
  };
}

async function login(replica: { url: string }, email: string, password: string): Promise<string> {
  const res = await call(replica, '/api/login', { method: 'POST', body: { email, password } });
  expect(res.status).toBe(200);
  return res.cookie;
}

/** The status each replica answers, all asked at once. */
const everywhere = (path: string, headers: Record<string, string>, method = 'GET', body?: unknown) =>
  Promise.all(replicas.map(async (r) => (await call(r, path, { method, headers, body })).status));

async function sql(text: string, params: unknown[] = []): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query(text, params).finally(() => client.end());
}

beforeAll(async () => {
  url = await sharedPostgres().createDatabase();
  const first = await startServer({ DB_URL: url, ...ADMIN });
  replicas = [first, ...(await Promise.all([1, 2].map(() => startServer({ DB_URL: url }))))];
});
afterAll(() => {
  for (const r of replicas) r.child.kill('SIGKILL');
});

describe('three replicas, one database', () => {
  it('a logout on one is refused by all three in the next request, ten sessions over', async () => {
    for (let round = 0; round < 10; round++) {
      const cookie = await login(replicas[round % 3]!, ADMIN.ATLAS_ADMIN_EMAIL, ADMIN.ATLAS_ADMIN_PASSWORD);
      expect(await everywhere('/api/me', { cookie })).toEqual([200, 200, 200]); // now known to each
      expect((await call(replicas[(round + 1) % 3]!, '/api/logout', { method: 'POST', headers: { cookie }, body: {} })).status).toBe(204);
      expect(await everywhere('/api/me', { cookie })).toEqual([401, 401, 401]);
    }
  });

  it("a revoked API token, and all of a user's tokens revoked at once", async () => {
    const cookie = await login(replicas[0]!, ADMIN.ATLAS_ADMIN_EMAIL, ADMIN.ATLAS_ADMIN_PASSWORD);
    const make = async () =>
      (await call(replicas[0]!, '/api/tokens', { method: 'POST', headers: { cookie }, body: { name: 'ci' } })).body!.token as { id: string; secret: string };
    const [one, two, three] = [await make(), await make(), await make()];
    for (const t of [one, two, three]) expect(await everywhere('/api/me', { authorization: `Bearer ${t.secret}` })).toEqual([200, 200, 200]);
    expect((await call(replicas[1]!, `/api/tokens/${one.id}`, { method: 'DELETE', headers: { cookie }, body: {} })).status).toBe(204);
    expect(await everywhere('/api/me', { authorization: `Bearer ${one.secret}` })).toEqual([401, 401, 401]);
    expect(await everywhere('/api/me', { authorization: `Bearer ${two.secret}` })).toEqual([200, 200, 200]);
    expect((await call(replicas[2]!, '/api/tokens', { method: 'DELETE', headers: { cookie }, body: {} })).body).toEqual({ revoked: 2 });
    for (const t of [two, three]) expect(await everywhere('/api/me', { authorization: `Bearer ${t.secret}` })).toEqual([401, 401, 401]);
  });

  it('a disabled user, and a role taken away, count on all three at once', async () => {
    const admin = await login(replicas[0]!, ADMIN.ATLAS_ADMIN_EMAIL, ADMIN.ATLAS_ADMIN_PASSWORD);
    const created = await call(replicas[0]!, '/api/admin/users', {
      method: 'POST',
      headers: { cookie: admin },
      body: { email: 'ops@example.com', password: 'ops-password-0451', role: 'admin' },
    });
    const id = (created.body!.user as { id: string }).id;
    const cookie = await login(replicas[1]!, 'ops@example.com', 'ops-password-0451');
    expect(await everywhere('/api/admin/users', { cookie })).toEqual([200, 200, 200]);
    expect((await call(replicas[2]!, `/api/admin/users/${id}`, { method: 'PATCH', headers: { cookie: admin }, body: { role: 'viewer' } })).status).toBe(200);
    expect(await everywhere('/api/admin/users', { cookie })).toEqual([403, 403, 403]);
    expect(await everywhere('/api/me', { cookie })).toEqual([200, 200, 200]);
    expect((await call(replicas[0]!, `/api/admin/users/${id}`, { method: 'PATCH', headers: { cookie: admin }, body: { disabled: true } })).status).toBe(200);
    expect(await everywhere('/api/me', { cookie })).toEqual([401, 401, 401]);
  });

  it('a revoked agent is refused by all three at once, its check-in included', async () => {
    const admin = await login(replicas[0]!, ADMIN.ATLAS_ADMIN_EMAIL, ADMIN.ATLAS_ADMIN_PASSWORD);
    const token = (await call(replicas[0]!, '/api/admin/enrollment-tokens', { method: 'POST', headers: { cookie: admin }, body: { name: 'edge-replicas' } }))
      .body!.enrollmentToken as { token: string };
    const enrolled = (await call(replicas[1]!, '/api/agents/enroll', { method: 'POST', body: { token: token.token, name: 'edge-replicas' } })).body!;
    const authorization = `Bearer ${enrolled.credential as string}`;
    expect(await everywhere('/api/agent/checkin', { authorization }, 'POST', { version: '1.3.0' })).toEqual([200, 200, 200]);
    const agentId = (enrolled.agent as { id: string }).id;
    expect((await call(replicas[2]!, `/api/admin/agents/${agentId}`, { method: 'DELETE', headers: { cookie: admin }, body: {} })).status).toBe(204);
    expect(await everywhere('/api/agent/checkin', { authorization }, 'POST', { version: '1.3.0' })).toEqual([401, 401, 401]);
  });

  it('a change none of them wrote (psql) is heard by all three within a moment: a token, and a setting', async () => {
    const cookie = await login(replicas[0]!, ADMIN.ATLAS_ADMIN_EMAIL, ADMIN.ATLAS_ADMIN_PASSWORD);
    const token = (await call(replicas[0]!, '/api/tokens', { method: 'POST', headers: { cookie }, body: { name: 'psql' } })).body!.token as {
      id: string;
      secret: string;
    };
    expect(await everywhere('/api/me', { authorization: `Bearer ${token.secret}` })).toEqual([200, 200, 200]);
    await sql('UPDATE api_tokens SET revoked_at = now() WHERE id = $1', [token.id]);
    await eventually(
      'the token refused everywhere',
      async () => ((await everywhere('/api/me', { authorization: `Bearer ${token.secret}` })).every((s) => s === 401) ? true : undefined),
      1,
    );

    expect((await call(replicas[1]!, '/api/admin/settings/site.name', { method: 'PUT', headers: { cookie }, body: { value: 'Atlas' } })).status).toBe(200);
    const read = async () =>
      Promise.all(replicas.map(async (r) => ((await call(r, '/api/settings/site.name', { headers: { cookie } })).body!.setting as { value: unknown }).value));
    expect(await read()).toEqual(['Atlas', 'Atlas', 'Atlas']);
    await sql(`UPDATE settings SET value = '"Atlas by psql"' WHERE key = 'site.name'`);
    await eventually('the setting read everywhere', async () => ((await read()).every((v) => v === 'Atlas by psql') ? true : undefined), 1);
  });
});
