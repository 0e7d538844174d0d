import { once } from 'node:events';
import { connect, type AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { addUser, json, login, PASSWORD, signedInApp, startTestApp } from '../support/app.js';
import { backends } from '../support/backends.js';

/** Regression tests of the security review's findings, each written to fail on the code before its fix. */

describe('cross-site requests to the API (finding 1)', () => {
  const t = signedInApp();
  const newAdmin = 'email=x%40evil.example&password=a-long-password-1&role=admin';

  it('refuses a form post signed in by the session cookie, creating nothing', async () => {
    const form = await t.app.inject({
      method: 'POST',
      url: '/api/admin/users',
      headers: { cookie: t.admin, 'content-type': 'application/x-www-form-urlencoded' },
      payload: newAdmin,
    });
    expect(form.statusCode).toBe(403);
    const text = await t.app.inject({
      method: 'POST',
      url: '/api/admin/users',
      headers: { cookie: t.admin, 'content-type': 'text/plain' },
      payload: '{"email":"x@evil.example","password":"a-long-password-1","role":"admin"}',
    });
    expect(text.statusCode).toBe(403);
    expect(json(text)).toMatchObject({ error: 'cross_site_request' });
    expect(await t.db.query(`SELECT 1 FROM users WHERE email = 'x@evil.example'`)).toEqual([]);
  });

  it('refuses a bodiless unsafe request signed in by the cookie (a no-cors fetch), and takes it with a JSON body or an API token', async () => {
    const created = json(
      await t.app.inject({ method: 'POST', url: '/api/incidents', headers: { cookie: t.admin }, payload: { title: 'csrf', severity: 'low' } }),
    ) as { incident: { id: string } };
    const url = `/api/incidents/${created.incident.id}/acknowledge`;
    const bare = await t.app.inject({ method: 'POST', url, headers: { cookie: t.admin } });
    expect(bare.statusCode).toBe(403);
    expect((await t.app.inject({ method: 'POST', url, headers: { cookie: t.admin }, payload: {} })).statusCode).toBe(200);
    const { token } = json(await t.app.inject({ method: 'POST', url: '/api/tokens', headers: { cookie: t.admin }, payload: { name: 'csrf-test' } })) as {
      token: { id: string; secret: string };
    };
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
        Array.from({ length: 25 }, () =>
          app.inject({ method: 'POST', url: '/api/login', payload: { email: 'target@example.com', password: 'wrong-password-0' } }),
        ),
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

describe('a client that trickles its request', () => {
  it('is answered 408 and disconnected once the request timeout passes, the body still unfinished', async () => {
    const db = await backends[0]!.open();
    const { app } = await startTestApp(db, { requestTimeoutMs: 1500 });
    try {
      await app.listen({ host: '127.0.0.1', port: 0 });
      const { port } = app.server.address() as AddressInfo;
      const socket = connect(port, '127.0.0.1');
      let answer = '';
      socket.on('data', (d: Buffer) => (answer += d.toString()));
      socket.write('POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{');
      // One byte every 200 ms: 100 bytes would take 20 s. The ceiling is generous; the close is the event waited for.
      const trickle = setInterval(() => socket.writable && socket.write(' '), 200);
      const closed = await Promise.race([once(socket, 'close').then(() => true), sleep(15_000).then(() => false)]);
      clearInterval(trickle);
      expect(closed).toBe(true);
      expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    } finally {
      await app.close();
      await db.close();
    }
  });
});

describe('the verification identity cannot be locked out by others', () => {
  it('an account guessed at from one address still logs in from another; the guessing address stays throttled', async () => {
    const db = await backends[0]!.open();
    const { app } = await startTestApp(db);
    const attempt = (remoteAddress: string, password: string) =>
      app.inject({ method: 'POST', url: '/api/login', remoteAddress, payload: { email: 'gate@example.com', password } }).then((r) => r.statusCode);
    try {
      await addUser(db, 'gate@example.com', 'admin');
      const guesses = [];
      for (let i = 0; i < 12; i++) guesses.push(await attempt('198.51.100.7', `wrong-password-${i}`));
      expect(guesses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
      expect(guesses.slice(-1)).toEqual([429]);
      expect(await attempt('198.51.100.7', PASSWORD)).toBe(429);
      expect(await attempt('203.0.113.5', PASSWORD)).toBe(200);
      expect(await attempt('198.51.100.7', PASSWORD)).toBe(429);
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
        const res = await app.inject({
          method: 'POST',
          url: '/api/login',
          remoteAddress: '10.0.0.5',
          headers: { 'x-forwarded-for': `198.51.100.${i}, 203.0.113.9` },
          payload: { email: `nobody${i}@example.com`, password: 'wrong-password-0' },
        });
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
  /** One app per database for every case, started by the first. */
  const started = async () => {
    if (t) return t;
    const db = await backend.open();
    const app = await startTestApp(db);
    await addUser(db, 'admin@example.com', 'admin');
    return { ...app, admin: await login(app.app, 'admin@example.com') };
  };
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
    // Found by the fuzz suite (seed 863647286): PostgreSQL's jsonb refuses half a surrogate pair.
    ['half a surrogate pair in a setting', 'PUT', '/api/admin/settings/half', '{"value":["x\\udfffy"]}', true],
    ['half a surrogate pair in a key of a setting', 'PUT', '/api/admin/settings/half', '{"value":{"\\ud800":1}}', true],
    ['half a surrogate pair in an incident title', 'POST', '/api/incidents', '{"title":"a\\ud83d","severity":"low"}', true],
  ] as const)('%s', async (_what, method, url, payload, signedIn) => {
    t = await started();
    const res = await t.app.inject({ method, url, payload, headers: { 'content-type': 'application/json', ...(signedIn ? { cookie: t.admin } : {}) } });
    expect(res.statusCode).toBeGreaterThanOrEqual(400);
    expect(res.statusCode).toBeLessThan(500);
    expect(json(res)).toEqual({ error: expect.any(String) as string, message: expect.any(String) as string });
  });

  it('keeps a whole surrogate pair (an emoji) in a setting', async () => {
    t = await started();
    const res = await t.app.inject({
      method: 'PUT',
      url: '/api/admin/settings/mood',
      headers: { cookie: t.admin, 'content-type': 'application/json' },
      payload: '{"value":"ok \\ud83d\\ude00"}',
    });
    expect({ backend: backend.name, status: res.statusCode }).toEqual({ backend: backend.name, status: 200 });
    expect(json(res)).toMatchObject({ setting: { value: 'ok \u{1F600}' } });
  });
});

describe('where webhooks may go (finding 6)', () => {
  it("refuses internal destinations when a webhook is saved, by address and by the name's addresses", async () => {
    const db = await backends[0]!.open();
    const { app } = await startTestApp(db, { webhookAllow: '' });
    try {
      await addUser(db, 'admin@example.com', 'admin');
      const admin = await login(app, 'admin@example.com');
      const save = (url: string) =>
        app.inject({ method: 'POST', url: '/api/admin/webhooks', headers: { cookie: admin }, payload: { name: 'x', url, events: ['incident.created'] } });
      for (const url of [
        'http://127.0.0.1/',
        'http://169.254.169.254/latest/meta-data/',
        'http://[::1]/',
        'http://localhost:5432/',
        'http://0/',
        'http://2130706433/',
        'http://[::ffff:127.0.0.1]/',
        'http://10.1.2.3/',
        'http://192.168.0.1/',
        'http://user:pw@203.0.113.10/',
      ]) {
        const res = await save(url);
        expect({ url, status: res.statusCode }).toEqual({ url, status: 400 });
        expect(json(res).message).toMatch(/not allowed|user name or password/);
      }
      // A public address is taken (nothing is sent at saving).
      expect((await save('http://203.0.113.10/hook')).statusCode).toBe(201);
      const patched = await app.inject({
        method: 'PATCH',
        url: `/api/admin/webhooks/${(await db.query<{ id: string }>('SELECT id FROM webhooks'))[0]!.id}`,
        headers: { cookie: admin },
        payload: { url: 'http://127.0.0.1:9/' },
      });
      expect(patched.statusCode).toBe(400);
    } finally {
      await app.close();
      await db.close();
    }
  });

  it('checks again at delivery, on the addresses connected to; /test says delivered, an HTTP status or "unreachable", nothing finer', async () => {
    const received: string[] = [];
    const receiver = (await import('node:http')).createServer((req, res) => {
      received.push(req.url ?? '');
      res.writeHead(req.url === '/fail' ? 500 : 200).end();
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const port = (receiver.address() as { port: number }).port;
    const closed = port === 65_535 ? 65_534 : port + 1;
    const db = await backends[0]!.open();
    const { app } = await startTestApp(db, { webhookAllow: '' });
    try {
      await addUser(db, 'admin@example.com', 'admin');
      const admin = await login(app, 'admin@example.com');
      // Saved while they were allowed (or while the name resolved elsewhere): the delivery refuses them.
      const rows = await db.query<{ id: string; url: string }>(
        `INSERT INTO webhooks (name, url, secret, events) VALUES ('by-name', $1, 's', '{incident.created}'), ('literal', $2, 's', '{incident.created}') RETURNING id, url`,
        [`http://localhost:${port}/by-name`, `http://127.0.0.1:${port}/literal`],
      );
      for (const row of rows) {
        const test = json(await app.inject({ method: 'POST', url: `/api/admin/webhooks/${row.id}/test`, headers: { cookie: admin }, payload: {} }));
        expect(test).toMatchObject({
          status: 'pending',
          statusCode: null,
          error: expect.stringMatching(/^refused by the webhook policy: .*127\.0\.0\.1 is an internal address/) as unknown,
        });
      }
      expect(received).toEqual([]);
    } finally {
      await app.close();
      await db.close();
    }
    const db2 = await backends[0]!.open();
    const { app: allowed } = await startTestApp(db2, { webhookAllow: '127.0.0.1' });
    try {
      await addUser(db2, 'admin@example.com', 'admin');
      const admin = await login(allowed, 'admin@example.com');
      const test = async (path: string, p = port) => {
        const hook = json(
          await allowed.inject({
            method: 'POST',
            url: '/api/admin/webhooks',
            headers: { cookie: admin },
            payload: { name: path, url: `http://127.0.0.1:${p}${path}`, events: ['incident.created'] },
          }),
        ) as { webhook: { id: string } };
        return json(await allowed.inject({ method: 'POST', url: `/api/admin/webhooks/${hook.webhook.id}/test`, headers: { cookie: admin }, payload: {} }));
      };
      expect(await test('/ok')).toMatchObject({ status: 'delivered', statusCode: 200, error: null });
      expect(await test('/fail')).toMatchObject({ statusCode: 500, error: 'HTTP 500' });
      expect(await test('/nobody', closed)).toMatchObject({ statusCode: null, error: 'unreachable' });
      expect(received).toEqual(['/ok', '/fail']);
    } finally {
      await allowed.close();
      await db2.close();
      receiver.close();
    }
  });

  it('reads ATLAS_WEBHOOK_ALLOW strictly', async () => {
    const { parseWebhookAllow } = await import('../../src/server/webhook-policy.js');
    const policy = parseWebhookAllow('127.0.0.1, 10.1.0.0/16 hooks.internal fd00::/8');
    expect(policy.allowedAddresses.check('10.1.2.3')).toBe(true);
    expect(policy.allowedAddresses.check('10.2.0.1')).toBe(false);
    expect(policy.allowedHosts.has('hooks.internal')).toBe(true);
    for (const bad of ['10.0.0.0/33', 'http://x', 'a b/c', '1.2.3.4/8/9']) expect(() => parseWebhookAllow(bad)).toThrow(/ATLAS_WEBHOOK_ALLOW/);
  });
});

describe('credentials (finding 8)', () => {
  const t = signedInApp();

  it("a password reset by an admin revokes the user's API tokens with the sessions; DELETE /api/tokens revokes all of one's own", async () => {
    await addUser(t.db, 'reset@example.com', 'operator');
    const user = await login(t.app, 'reset@example.com');
    const make = async (cookie: string, name: string) =>
      (json(await t.app.inject({ method: 'POST', url: '/api/tokens', headers: { cookie }, payload: { name } })) as { token: { secret: string } }).token.secret;
    const first = await make(user, 'ci');
    const asToken = (secret: string) => t.app.inject({ url: '/api/me', headers: { authorization: `Bearer ${secret}` } });
    expect((await asToken(first)).statusCode).toBe(200);
    const [row] = await t.db.query<{ id: string }>(`SELECT id FROM users WHERE email = 'reset@example.com'`);
    const reset = await t.app.inject({
      method: 'PATCH',
      url: `/api/admin/users/${row!.id}`,
      headers: { cookie: t.admin },
      payload: { password: 'a-brand-new-password-1' },
    });
    expect(reset.statusCode).toBe(200);
    expect((await asToken(first)).statusCode).toBe(401);

    const again = await login(t.app, 'reset@example.com', 'a-brand-new-password-1');
    const a = await make(again, 'a');
    const b = await make(again, 'b');
    expect(json(await t.app.inject({ method: 'DELETE', url: '/api/tokens', headers: { authorization: `Bearer ${a}` } }))).toEqual({ revoked: 2 });
    expect((await asToken(a)).statusCode).toBe(401);
    expect((await asToken(b)).statusCode).toBe(401);
  });

  it('the enrollment token names the agent, not the agent; one enrolled agent per name, and a refused enrollment leaves the token unspent', async () => {
    const token = async (name: string) =>
      (
        json(await t.app.inject({ method: 'POST', url: '/api/admin/enrollment-tokens', headers: { cookie: t.admin }, payload: { name } })) as {
          enrollmentToken: { token: string };
        }
      ).enrollmentToken.token;
    const enroll = (secret: string, name: string) => t.app.inject({ method: 'POST', url: '/api/agents/enroll', payload: { token: secret, name } });
    const first = json(await enroll(await token('edge-a'), 'admin-console')) as { agent: { id: string; name: string } };
    expect(first.agent.name).toBe('edge-a');
    const second = await token('edge-a');
    const refused = await enroll(second, 'edge-a');
    expect(refused.statusCode).toBe(409);
    expect(json(refused).message).toMatch(/an agent named "edge-a" is enrolled already/);
    expect((await t.app.inject({ method: 'DELETE', url: `/api/admin/agents/${first.agent.id}`, headers: { cookie: t.admin }, payload: {} })).statusCode).toBe(
      204,
    );
    expect((await enroll(second, 'whatever')).statusCode).toBe(201);
  });
});
