import { describe, expect, it } from 'vitest';
import { addUser, json, login, PASSWORD, signedInApp, startTestApp } from '../support/app.js';
import { backends } from '../support/backends.js';

/** Regression tests of the security review's findings, each written to fail on the code before its fix. */

describe('cross-site requests to the API (finding 1)', () => {
  const t = signedInApp();
  const newAdmin = 'email=x%40evil.example&password=a-long-password-1&role=admin';

  it('refuses a form post signed in by the session cookie, creating nothing', async () => {
    const form = await t.app.inject({ method: 'POST', url: '/api/admin/users', headers: { cookie: t.admin, 'content-type': 'application/x-www-form-urlencoded' }, payload: newAdmin });
    expect(form.statusCode).toBe(403);
    const text = await t.app.inject({ method: 'POST', url: '/api/admin/users', headers: { cookie: t.admin, 'content-type': 'text/plain' }, payload: '{"email":"x@evil.example","password":"a-long-password-1","role":"admin"}' });
    expect(text.statusCode).toBe(403);
    expect(json(text)).toMatchObject({ error: 'cross_site_request' });
    expect(await t.db.query(`SELECT 1 FROM users WHERE email = 'x@evil.example'`)).toEqual([]);
  });

  it('refuses a bodiless unsafe request signed in by the cookie (a no-cors fetch), and takes it with a JSON body or an API token', async () => {
    const created = json(await t.app.inject({ method: 'POST', url: '/api/incidents', headers: { cookie: t.admin }, payload: { title: 'csrf', severity: 'low' } })) as { incident: { id: string } };
    const url = `/api/incidents/${created.incident.id}/acknowledge`;
    const bare = await t.app.inject({ method: 'POST', url, headers: { cookie: t.admin } });
    expect(bare.statusCode).toBe(403);
    expect((await t.app.inject({ method: 'POST', url, headers: { cookie: t.admin }, payload: {} })).statusCode).toBe(200);
    const { token } = json(await t.app.inject({ method: 'POST', url: '/api/tokens', headers: { cookie: t.admin }, payload: { name: 'csrf-test' } })) as { token: { id: string; secret: string } };
    const revoke = await t.app.inject({ method: 'DELETE', url: `/api/tokens/${token.id}`, headers: { authorization: `Bearer ${token.secret}` } });
    expect(revoke.statusCode).toBe(204);
  });
});

describe.each(backends)('login throttling on $name (finding 3)', (backend) => {
  it('25 parallel wrong passwords against one account: at most the limit of 5 are checked, the rest refused', async () => {
    const db = await backend.open();
    const { app } = await startTestApp(db);
    try {
      await addUser(db, 'target@example.com', 'viewer');
      const answers = await Promise.all(
        Array.from({ length: 25 }, () => app.inject({ method: 'POST', url: '/api/login', payload: { email: 'target@example.com', password: 'wrong-password-0' } })),
      );
      const codes = answers.map((a) => a.statusCode);
      expect(codes.filter((c) => c === 401)).toHaveLength(5);
      expect(codes.filter((c) => c === 429)).toHaveLength(20);
      // The right password is refused too while the account is blocked.
      expect((await app.inject({ method: 'POST', url: '/api/login', payload: { email: 'target@example.com', password: PASSWORD } })).statusCode).toBe(429);
    } finally {
      await app.close();
      await db.close();
    }
  });
});

describe('the client address behind a proxy (finding 3)', () => {
  it('is the right-most hop that is not a trusted proxy: rotating the left-most X-Forwarded-For entry does not evade the limit', async () => {
    const db = await backends[0]!.open();
    const { app } = await startTestApp(db, { trustProxy: true, login: { maxPerAccount: 100, maxPerAddress: 3 } });
    try {
      const codes: number[] = [];
      for (let i = 0; i < 5; i++) {
        const res = await app.inject({ method: 'POST', url: '/api/login', remoteAddress: '10.0.0.5', headers: { 'x-forwarded-for': `198.51.100.${i}, 203.0.113.9` }, payload: { email: `nobody${i}@example.com`, password: 'wrong-password-0' } });
        codes.push(res.statusCode);
      }
      expect(codes).toEqual([401, 401, 401, 429, 429]);
      const keys = await db.query<{ key: string }>(`SELECT DISTINCT key FROM login_failures WHERE key LIKE 'address:%'`);
      expect(keys).toEqual([{ key: 'address:203.0.113.9' }]);
    } finally {
      await app.close();
      await db.close();
    }
  });

  it('a successful login uncounts its attempt: an account is not blocked by its own logins', async () => {
    const db = await backends[0]!.open();
    const { app } = await startTestApp(db, { login: { maxPerAccount: 2 } });
    try {
      await addUser(db, 'often@example.com', 'viewer');
      for (let i = 0; i < 5; i++) await login(app, 'often@example.com');
      expect(await db.query('SELECT 1 FROM login_failures')).toEqual([]);
    } finally {
      await app.close();
      await db.close();
    }
  });
});

describe.each(backends)('bad input gets a 4xx, never a 500, on $name (finding 5)', (backend) => {
  let t: Awaited<ReturnType<typeof startTestApp>> & { admin: string };
  const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);

  it.each([
    ['a NUL in the unauthenticated login email', 'POST', '/api/login', JSON.stringify({ email: 'a\u0000@example.com', password: 'x' }), false],
    ['a NUL in an incident title', 'POST', '/api/incidents', JSON.stringify({ title: 'nul\u0000', severity: 'low' }), true],
    ['a NUL in a query string', 'GET', '/api/incidents?q=a%00b', undefined, true],
    ['1e309 as an incident id', 'GET', '/api/incidents/1e309', undefined, true],
    ['1e309 as a limit', 'GET', '/api/incidents?limit=1e309', undefined, true],
    ['1e20 as a page cursor', 'GET', '/api/incidents?before=1e20', undefined, true],
    ['1e20 as an audit cursor', 'GET', '/api/admin/settings/audit?before=1e20', undefined, true],
    ['1e309 as an execution filter', 'GET', '/api/executions?incidentId=1e309', undefined, true],
    ['a setting nested 5,000 levels deep', 'PUT', '/api/admin/settings/deep', `{"value":${deep(5000)}}`, true],
  ] as const)('%s', async (_what, method, url, payload, signedIn) => {
    if (!t) {
      const db = await backend.open();
      t = { ...(await startTestApp(db)), admin: '' };
      await addUser(db, 'admin@example.com', 'admin');
      t.admin = await login(t.app, 'admin@example.com');
    }
    const res = await t.app.inject({ method, url, payload, headers: { 'content-type': 'application/json', ...(signedIn ? { cookie: t.admin } : {}) } });
    expect(res.statusCode).toBeGreaterThanOrEqual(400);
    expect(res.statusCode).toBeLessThan(500);
    expect(json(res)).toEqual({ error: expect.any(String) as string, message: expect.any(String) as string });
  });
});
