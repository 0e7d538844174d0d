import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import type { Database } from '../../src/db/database.js';
import { signLicense, type LicenseClaims } from '../../src/server/license.js';
import { backends } from '../support/backends.js';
import { addUser, json, licenseKeys, login, PASSWORD, startTestApp, TEST_VERSION } from '../support/app.js';

const claims: LicenseClaims = {
  licensee: 'Acme Corp',
  tenant: 'acme',
  seats: 50,
  issuedAt: '2026-01-01T00:00:00Z',
  expiresAt: '2099-01-01T00:00:00Z',
};

describe.each(backends)('Tenant Plane API on $name', (backend) => {
  let db: Database;
  let app: FastifyInstance;
  let admin: string;
  let viewer: string;
  let operator: string;

  beforeAll(async () => {
    db = await backend.open();
    ({ app } = await startTestApp(db, { login: { maxPerAccount: 3 } }));
    await addUser(db, 'admin@example.com', 'admin');
    await addUser(db, 'viewer@example.com', 'viewer');
    await addUser(db, 'operator@example.com', 'operator');
    admin = await login(app, 'admin@example.com');
    viewer = await login(app, 'viewer@example.com');
    operator = await login(app, 'operator@example.com');
  });
  afterAll(async () => {
    await app?.close();
    await db?.close();
  });

  describe('login and sessions', () => {
    it('logs in with email and password: an HttpOnly SameSite session cookie that /api/me accepts', async () => {
      const res = await app.inject({ method: 'POST', url: '/api/login', payload: { email: ' Admin@Example.com ', password: PASSWORD } });
      expect(res.statusCode).toBe(200);
      expect(json(res).user).toMatchObject({ email: 'admin@example.com', role: 'admin' });
      expect(JSON.stringify(json(res))).not.toMatch(/hash|scrypt/);
      const setCookie = String(res.headers['set-cookie']);
      expect(setCookie).toMatch(/atlas_session=ats_[\w-]{43}; Max-Age=3600; Path=\/; HttpOnly; SameSite=Lax/);
      expect(setCookie).not.toMatch(/Secure/);
      const me = await app.inject({ url: '/api/me', headers: { cookie: `atlas_session=${res.cookies[0]?.value}` } });
      expect(json(me)).toMatchObject({ user: { email: 'admin@example.com' }, via: 'session' });
    });

    it('refuses a wrong password and an unknown email with the same answer', async () => {
      const wrong = await app.inject({ method: 'POST', url: '/api/login', payload: { email: 'viewer@example.com', password: 'not-the-password' } });
      const unknown = await app.inject({ method: 'POST', url: '/api/login', payload: { email: 'nobody@example.com', password: 'whatever-it-is' } });
      expect(wrong.statusCode).toBe(401);
      expect(unknown.statusCode).toBe(401);
      expect(json(wrong)).toEqual(json(unknown));
      expect(json(wrong)).toEqual({ error: 'invalid_credentials', message: 'the email or the password is wrong' });
    });

    it('logout ends the session: the same cookie is refused afterwards', async () => {
      const cookie = await login(app, 'operator@example.com');
      const out = await app.inject({ method: 'POST', url: '/api/logout', headers: { cookie }, payload: {} });
      expect(out.statusCode).toBe(204);
      expect(String(out.headers['set-cookie'])).toMatch(/atlas_session=;/);
      const after = await app.inject({ url: '/api/me', headers: { cookie } });
      expect(after.statusCode).toBe(401);
    });

    it('refuses a forged or expired session cookie', async () => {
      const forged = await app.inject({ url: '/api/me', headers: { cookie: 'atlas_session=ats_forged' } });
      expect(forged.statusCode).toBe(401);
      const cookie = await login(app, 'viewer@example.com');
      await db.query(`UPDATE sessions SET expires_at = now() - interval '1 second'`);
      expect((await app.inject({ url: '/api/me', headers: { cookie } })).statusCode).toBe(401);
      viewer = await login(app, 'viewer@example.com');
      admin = await login(app, 'admin@example.com');
      operator = await login(app, 'operator@example.com');
    });

    it('throttles failed logins per account: 429 with Retry-After, even with the right password, others unaffected', async () => {
      await addUser(db, 'target@example.com', 'viewer');
      for (let i = 0; i < 3; i++) {
        const res = await app.inject({ method: 'POST', url: '/api/login', payload: { email: 'target@example.com', password: `guess-number-${i}` } });
        expect(res.statusCode).toBe(401);
      }
      const blocked = await app.inject({ method: 'POST', url: '/api/login', payload: { email: 'target@example.com', password: PASSWORD } });
      expect(blocked.statusCode).toBe(429);
      expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(800);
      expect(json(blocked).message).toMatch(/too many failed logins; try again in \d+ s/);
      await login(app, 'viewer@example.com');
      // The window passes (moved back in time): the account may log in again, and success clears the count.
      await db.query(`UPDATE login_failures SET at = at - interval '901 seconds' WHERE key = 'account:target@example.com at:127.0.0.1'`);
      await login(app, 'target@example.com');
      const rows = await db.query(`SELECT 1 FROM login_failures WHERE key = 'account:target@example.com at:127.0.0.1'`);
      expect(rows).toHaveLength(0);
    });

    it('a disabled account cannot log in, and its sessions end', async () => {
      await addUser(db, 'leaver@example.com', 'operator');
      const cookie = await login(app, 'leaver@example.com');
      const [row] = await db.query<{ id: string }>(`SELECT id FROM users WHERE email = 'leaver@example.com'`);
      const patch = await app.inject({ method: 'PATCH', url: `/api/admin/users/${row!.id}`, headers: { cookie: admin }, payload: { disabled: true } });
      expect(patch.statusCode).toBe(200);
      expect((await app.inject({ url: '/api/me', headers: { cookie } })).statusCode).toBe(401);
      const again = await app.inject({ method: 'POST', url: '/api/login', payload: { email: 'leaver@example.com', password: PASSWORD } });
      expect(again.statusCode).toBe(403);
      expect(json(again).error).toBe('account_disabled');
    });
  });

  describe('API tokens', () => {
    it('are shown once, stored hashed, work as Bearer tokens, and stop working when revoked', async () => {
      const created = await app.inject({ method: 'POST', url: '/api/tokens', headers: { cookie: operator }, payload: { name: 'ci' } });
      expect(created.statusCode).toBe(201);
      const token = json(created).token as { id: string; secret: string; prefix: string };
      expect(token.secret).toMatch(/^atp_[\w-]{43}$/);
      const stored = await db.query<{ token_hash: string }>('SELECT token_hash FROM api_tokens WHERE id = $1', [token.id]);
      expect(stored[0]?.token_hash).toMatch(/^[0-9a-f]{64}$/);
      expect(stored[0]?.token_hash).not.toContain(token.secret);
      const list = await app.inject({ url: '/api/tokens', headers: { cookie: operator } });
      expect(list.body).not.toContain(token.secret);
      expect(json(list).tokens).toEqual([expect.objectContaining({ id: token.id, name: 'ci', prefix: token.secret.slice(0, 8) })]);

      const auth = { authorization: `Bearer ${token.secret}` };
      const me = await app.inject({ url: '/api/me', headers: auth });
      expect(json(me)).toMatchObject({ user: { email: 'operator@example.com', role: 'operator' }, via: 'token' });
      expect((await app.inject({ url: '/api/admin/users', headers: auth })).statusCode).toBe(403);
      const usedAt = await db.query('SELECT last_used_at FROM api_tokens WHERE id = $1', [token.id]);
      expect(usedAt[0]?.last_used_at).toBeInstanceOf(Date);

      const revoke = await app.inject({ method: 'DELETE', url: `/api/tokens/${token.id}`, headers: { cookie: operator }, payload: {} });
      expect(revoke.statusCode).toBe(204);
      expect((await app.inject({ url: '/api/me', headers: auth })).statusCode).toBe(401);
    });

    it("refuses malformed Authorization headers, and another user's token id", async () => {
      for (const header of ['Basic abc', 'Bearer', 'Bearer atp_short', `Bearer atp_${'x'.repeat(43)}`]) {
        const res = await app.inject({ url: '/api/me', headers: { authorization: header } });
        expect(res.statusCode).toBe(401);
      }
      const created = await app.inject({ method: 'POST', url: '/api/tokens', headers: { cookie: admin }, payload: { name: 'admin-only' } });
      const id = (json(created).token as { id: string }).id;
      const other = await app.inject({ method: 'DELETE', url: `/api/tokens/${id}`, headers: { cookie: viewer }, payload: {} });
      expect(other.statusCode).toBe(404);
    });
  });

  describe('access control', () => {
    it('GET /api lists every route; each non-public one refuses an anonymous caller with 401', async () => {
      const index = await app.inject({ url: '/api', headers: { cookie: viewer } });
      const routes = json(index).routes as { method: string; url: string; access: string }[];
      expect(routes.length).toBeGreaterThanOrEqual(17);
      // Enrollment is authenticated by the one-time token in its body; the API's description is public.
      expect(
        routes
          .filter((r) => r.access === 'public')
          .map((r) => `${r.method} ${r.url}`)
          .sort(),
      ).toEqual(['GET /api/health', 'GET /api/openapi.json', 'POST /api/agents/enroll', 'POST /api/login']);
      expect(routes.filter((r) => r.access === 'agent').map((r) => r.url)).toEqual([
        '/api/agent/checkin',
        '/api/agent/executions/claim',
        '/api/agent/executions/:id/result',
      ]);
      for (const route of routes.filter((r) => r.access !== 'public')) {
        const url = route.url.replace(':id', '00000000-0000-4000-8000-000000000000').replace(':key', 'some.key');
        const res = await app.inject({ method: route.method as 'GET', url, payload: route.method === 'GET' || route.method === 'DELETE' ? undefined : {} });
        expect({ route: `${route.method} ${route.url}`, status: res.statusCode }).toEqual({ route: `${route.method} ${route.url}`, status: 401 });
        expect(json(res).error).toBe('unauthorized');
      }
    });

    it('admin routes refuse viewers and operators with 403, and the URL cannot be disguised', async () => {
      const admins = [{ url: '/api/admin/users' }, { url: '/api/admin/license' }, { url: '/api/admin/settings/audit' }];
      for (const { url } of admins) {
        expect((await app.inject({ url, headers: { cookie: viewer } })).statusCode).toBe(403);
        expect((await app.inject({ url, headers: { cookie: operator } })).statusCode).toBe(403);
        expect((await app.inject({ url, headers: { cookie: admin } })).statusCode).toBe(200);
      }
      for (const url of ['/api/%61dmin/users', '/api/admin/users?x=1', '/api//admin/users', '/API/admin/users']) {
        const res = await app.inject({ url, headers: { cookie: viewer } });
        expect([403, 404]).toContain(res.statusCode);
      }
      const forbidden = await app.inject({ url: '/api/admin/users', headers: { cookie: viewer } });
      expect(json(forbidden).message).toBe('this needs the admin role; you are signed in as viewer');
    });
  });

  describe('users', () => {
    it('admins create users; duplicates, weak passwords, bad emails and unknown roles are refused clearly', async () => {
      const ok = await app.inject({
        method: 'POST',
        url: '/api/admin/users',
        headers: { cookie: admin },
        payload: { email: 'New@Example.com', password: PASSWORD, role: 'viewer', name: 'New' },
      });
      expect(ok.statusCode).toBe(201);
      expect(json(ok).user).toMatchObject({ email: 'new@example.com', role: 'viewer', disabled: false });
      const cases: [Record<string, unknown>, number, RegExp][] = [
        [{ email: 'new@example.com', password: PASSWORD, role: 'viewer' }, 409, /already exists/],
        [{ email: 'short@example.com', password: 'short', role: 'viewer' }, 400, /at least 12 characters/],
        [{ email: 'not-an-email', password: PASSWORD, role: 'viewer' }, 400, /is not an email address/],
        [{ email: 'r@example.com', password: PASSWORD, role: 'root' }, 400, /role must be equal to one of the allowed values/],
        [{ email: 'r@example.com', password: PASSWORD }, 400, /must have required property 'role'/],
        [{ email: 'r@example.com', password: PASSWORD, role: 'viewer', isAdmin: true }, 400, /must NOT have additional properties/],
      ];
      for (const [payload, status, message] of cases) {
        const res = await app.inject({ method: 'POST', url: '/api/admin/users', headers: { cookie: admin }, payload });
        expect(res.statusCode).toBe(status);
        expect(json(res).message).toMatch(message);
      }
    });

    it('refuses to demote or disable the last enabled admin', async () => {
      const [me] = await db.query<{ id: string }>(`SELECT id FROM users WHERE email = 'admin@example.com'`);
      const res = await app.inject({ method: 'PATCH', url: `/api/admin/users/${me!.id}`, headers: { cookie: admin }, payload: { role: 'viewer' } });
      expect(res.statusCode).toBe(409);
      expect(json(res).message).toMatch(/last enabled admin/);
      const unknown = await app.inject({
        method: 'PATCH',
        url: '/api/admin/users/00000000-0000-4000-8000-000000000000',
        headers: { cookie: admin },
        payload: { name: 'x' },
      });
      expect(unknown.statusCode).toBe(404);
      const empty = await app.inject({ method: 'PATCH', url: `/api/admin/users/${me!.id}`, headers: { cookie: admin }, payload: {} });
      expect(empty.statusCode).toBe(400);
    });
  });

  describe('incidents', () => {
    it("the timeline answers every kind of event with each field it recorded: creation, acknowledgement, update, comment, a runbook's start and end, resolution", async () => {
      const call = async (method: 'GET' | 'POST' | 'PATCH', url: string, payload?: object, headers: Record<string, string> = { cookie: admin }) => {
        const res = await app.inject({ method, url, headers, ...(payload ? { payload } : {}) });
        expect(res.statusCode, `${method} ${url}: ${res.body}`).toBeLessThan(300);
        return json(res);
      };
      const me = (await call('GET', '/api/me')).user as { id: string };
      const enrollment = (await call('POST', '/api/admin/enrollment-tokens', { name: 'edge-timeline' })).enrollmentToken as { token: string };
      const enrolled = await call('POST', '/api/agents/enroll', { token: enrollment.token, name: 'edge-timeline', runbooks: ['restart'] }, {});
      const agent = { authorization: `Bearer ${enrolled.credential as string}` };
      const agentId = (enrolled.agent as { id: string }).id;

      const id = ((await call('POST', '/api/incidents', { title: 'Disk full', severity: 'low' })).incident as { id: number }).id;
      await call('POST', `/api/incidents/${id}/acknowledge`, { note: 'looking' });
      await call('PATCH', `/api/incidents/${id}`, { title: 'Disk full on edge', assigneeId: me.id });
      await call('POST', `/api/incidents/${id}/comments`, { text: 'df says 100%' });
      const executionId = ((await call('POST', `/api/incidents/${id}/runbooks`, { runbook: 'restart', agentId })).executions as { id: string }[])[0]!.id;
      expect(((await call('POST', '/api/agent/executions/claim', { waitSeconds: 0 }, agent)).execution as { id: string }).id).toBe(executionId);
      await call('POST', `/api/agent/executions/${executionId}/result`, { status: 'failed', exitCode: 3, output: 'no space' }, agent);
      await call('POST', `/api/incidents/${id}/resolve`, { note: 'cleaned up' });

      const timeline = (await call('GET', `/api/incidents/${id}`)).timeline as { actor: string; kind: string; detail: unknown }[];
      expect(timeline.map(({ actor, kind, detail }) => ({ actor, kind, detail }))).toEqual([
        { actor: 'admin@example.com', kind: 'created', detail: { severity: 'low' } },
        { actor: 'admin@example.com', kind: 'acknowledged', detail: { note: 'looking' } },
        { actor: 'admin@example.com', kind: 'updated', detail: { title: 'Disk full on edge', assigneeId: me.id } },
        { actor: 'admin@example.com', kind: 'comment', detail: { text: 'df says 100%' } },
        { actor: 'admin@example.com', kind: 'execution_started', detail: { executionId, runbook: 'restart', agentId } },
        { actor: 'edge-timeline', kind: 'execution_finished', detail: { executionId, runbook: 'restart', status: 'failed', exitCode: 3 } },
        { actor: 'admin@example.com', kind: 'resolved', detail: { note: 'cleaned up' } },
      ]);
    });

    it("an event's detail with fields this version does not declare (a newer one wrote it) is answered whole, not emptied", async () => {
      const created = await app.inject({
        method: 'POST',
        url: '/api/incidents',
        headers: { cookie: admin },
        payload: { title: 'From elsewhere', severity: 'low' },
      });
      const id = (json(created).incident as { id: number }).id;
      await db.query(`INSERT INTO incident_events (incident_id, actor, kind, detail) VALUES ($1, 'a newer version', 'comment', $2::jsonb)`, [
        id,
        JSON.stringify({ text: 'kept', mentions: ['ops'], nested: { n: 1 } }),
      ]);
      const timeline = (json(await app.inject({ url: `/api/incidents/${id}`, headers: { cookie: viewer } })).timeline as { detail: unknown }[]).map(
        (e) => e.detail,
      );
      expect(timeline).toEqual([{ severity: 'low' }, { text: 'kept', mentions: ['ops'], nested: { n: 1 } }]);
    });
  });

  describe('settings', () => {
    it('records every change with who, when, old and new value; an unchanged write records nothing', async () => {
      const put = (value: unknown) => app.inject({ method: 'PUT', url: '/api/admin/settings/notify.channel', headers: { cookie: admin }, payload: { value } });
      expect((await put('#ops')).statusCode).toBe(200);
      expect((await put({ name: '#ops-critical', mention: [1, 2] })).statusCode).toBe(200);
      await put({ name: '#ops-critical', mention: [1, 2] });
      const del = await app.inject({ method: 'DELETE', url: '/api/admin/settings/notify.channel', headers: { cookie: admin }, payload: {} });
      expect(del.statusCode).toBe(204);
      const audit = await app.inject({ url: '/api/admin/settings/audit?key=notify.channel', headers: { cookie: admin } });
      const entries = json(audit).entries as Record<string, unknown>[];
      expect(entries.map(({ oldValue, newValue, changedBy }) => ({ oldValue, newValue, changedBy }))).toEqual([
        { oldValue: { name: '#ops-critical', mention: [1, 2] }, newValue: null, changedBy: 'admin@example.com' },
        { oldValue: '#ops', newValue: { name: '#ops-critical', mention: [1, 2] }, changedBy: 'admin@example.com' },
        { oldValue: null, newValue: '#ops', changedBy: 'admin@example.com' },
      ]);
      expect(Date.parse(String(entries[0]?.changedAt))).toBeGreaterThan(Date.now() - 60_000);
    });

    it('anyone logged in reads settings; only admins change them', async () => {
      await app.inject({ method: 'PUT', url: '/api/admin/settings/site.name', headers: { cookie: admin }, payload: { value: 'Acme' } });
      const read = await app.inject({ url: '/api/settings/site.name', headers: { cookie: viewer } });
      expect(json(read).setting).toMatchObject({ key: 'site.name', value: 'Acme', updatedBy: 'admin@example.com' });
      const write = await app.inject({ method: 'PUT', url: '/api/admin/settings/site.name', headers: { cookie: operator }, payload: { value: 'x' } });
      expect(write.statusCode).toBe(403);
      expect((await app.inject({ url: '/api/settings/no.such.key', headers: { cookie: viewer } })).statusCode).toBe(404);
    });

    it('refuses bad keys, missing values and oversized values', async () => {
      const bad = await app.inject({ method: 'PUT', url: '/api/admin/settings/Bad%20Key', headers: { cookie: admin }, payload: { value: 1 } });
      expect(bad.statusCode).toBe(400);
      expect(json(bad).message).toMatch(/params\/key must match pattern/);
      const missing = await app.inject({ method: 'PUT', url: '/api/admin/settings/ok.key', headers: { cookie: admin }, payload: {} });
      expect(missing.statusCode).toBe(400);
      const big = await app.inject({ method: 'PUT', url: '/api/admin/settings/ok.key', headers: { cookie: admin }, payload: { value: 'x'.repeat(20_000) } });
      expect(big.statusCode).toBe(413);
      const page = await app.inject({ url: '/api/admin/settings/audit?limit=0', headers: { cookie: admin } });
      expect(page.statusCode).toBe(400);
    });
  });

  describe('license', () => {
    const get = () => app.inject({ url: '/api/admin/license', headers: { cookie: admin } });
    const install = (document: string) => app.inject({ method: 'PUT', url: '/api/admin/license', headers: { cookie: admin }, payload: { document } });

    it('reports a missing license, and still shows the version', async () => {
      await db.query('DELETE FROM license');
      expect(json(await get())).toEqual({
        version: TEST_VERSION,
        license: { status: 'missing', valid: false, message: expect.stringMatching(/no license is installed/) as string },
      });
    });

    it('accepts and reports a valid signed license', async () => {
      const res = await install(signLicense(claims, licenseKeys.privateKey));
      expect(res.statusCode).toBe(200);
      expect(json(await get())).toMatchObject({ version: TEST_VERSION, license: { status: 'valid', valid: true, ...claims } });
    });

    it('reports an expired license as expired, not valid', async () => {
      await install(signLicense({ ...claims, expiresAt: '2020-01-01T00:00:00Z' }, licenseKeys.privateKey));
      expect(json(await get()).license).toMatchObject({ status: 'expired', valid: false, licensee: 'Acme Corp' });
    });

    it('refuses a forged license, and reports one found in the database as invalid', async () => {
      const otherKey = generateKeyPairSync('ed25519').privateKey;
      const forged = signLicense({ ...claims, seats: 10_000 }, otherKey);
      const res = await install(forged);
      expect(res.statusCode).toBe(400);
      expect(json(res).message).toMatch(/signature does not match/);
      // A license edited in place: the genuine signature over altered claims.
      const [prefix, , signature] = signLicense(claims, licenseKeys.privateKey).split('.');
      const tampered = `${prefix}.${Buffer.from(JSON.stringify({ ...claims, seats: 9999 })).toString('base64url')}.${signature}`;
      await db.query('UPDATE license SET document = $1', [tampered]);
      expect(json(await get())).toMatchObject({ version: TEST_VERSION, license: { status: 'invalid', valid: false } });
      expect((await install('hello')).statusCode).toBe(400);
    });
  });

  describe('bad input on every route', () => {
    it('gets a 4xx with a JSON message, never a 500 or a stack trace', async () => {
      const index = json(await app.inject({ url: '/api', headers: { cookie: admin } })).routes as { method: string; url: string }[];
      const hostile = ['not-a-uuid', '..%2F..%2Fetc', '%00', "'; DROP TABLE users; --", 'x'.repeat(300)];
      const bodies = [
        '{bad json',
        '[]',
        '"just a string"',
        JSON.stringify({ unexpected: true }),
        JSON.stringify({ email: 1, password: [], name: {}, document: 7 }),
      ];
      let refused = 0;
      for (const route of index) {
        if (route.url === '/api/logout') continue; // would end the admin's session
        const takesBody = !['GET', 'DELETE'].includes(route.method);
        const hasParams = route.url.includes(':');
        const urls = hasParams ? hostile.map((h) => route.url.replace(/:\w+/, h)) : [`${route.url}?limit=abc&before=-1&key=BAD`];
        for (const url of urls) {
          for (const body of takesBody ? bodies : [undefined]) {
            const res = await app.inject({
              method: route.method as 'POST',
              url,
              headers: { cookie: admin, 'content-type': 'application/json' },
              payload: body,
            });
            const where = `${route.method} ${url} ${body ?? ''}`;
            expect(res.statusCode, where).toBeLessThan(500);
            expect(res.body, where).not.toMatch(/\bat \S+:\d+:\d+|node_modules|\/src\//);
            // A plain read ignores a stray query string; everything that takes input must refuse bad input.
            if (!takesBody && !hasParams && res.statusCode === 200) continue;
            expect(res.statusCode, where).toBeGreaterThanOrEqual(400);
            expect(json(res), where).toEqual({ error: expect.any(String) as string, message: expect.any(String) as string });
            refused++;
          }
        }
      }
      expect(refused).toBeGreaterThan(60);
    });

    it('refuses a body that is not JSON, and a body too large', async () => {
      const text = await app.inject({ method: 'POST', url: '/api/login', headers: { 'content-type': 'application/xml' }, payload: '<login/>' });
      expect(text.statusCode).toBe(415);
      const huge = await app.inject({
        method: 'POST',
        url: '/api/login',
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify({ email: 'a@b.cd', password: 'x'.repeat(300_000) }),
      });
      expect(huge.statusCode).toBe(413);
    });
  });
});

describe('behind an HTTPS reverse proxy', () => {
  it('marks the session cookie Secure', async () => {
    const db = await backends[0]!.open();
    const { app } = await startTestApp(db, { trustProxy: true });
    try {
      await addUser(db, 'admin@example.com', 'admin');
      const res = await app.inject({
        method: 'POST',
        url: '/api/login',
        headers: { 'x-forwarded-proto': 'https' },
        payload: { email: 'admin@example.com', password: PASSWORD },
      });
      expect(String(res.headers['set-cookie'])).toMatch(/; Secure/);
      expect(res.headers['x-frame-options']).toBe('DENY');
      expect(res.headers['content-security-policy']).toMatch(/frame-ancestors 'none'/);
    } finally {
      await app.close();
      await db.close();
    }
  });
});
