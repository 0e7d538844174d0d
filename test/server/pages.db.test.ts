import type { FastifyInstance } from 'fastify';
import { describe, expect, it } from 'vitest';
import { addUser, signedInApp, startTestApp } from '../support/app.js';
import { backends } from '../support/backends.js';

/** The login page's anti-forgery token and its cookie, as a browser holds them after GET /login. */
async function loginForm(app: FastifyInstance): Promise<{ csrf: string; cookie: string }> {
  const page = await app.inject({ url: '/login' });
  const csrf = /name="csrf" value="([^"]+)"/.exec(page.body)?.[1] ?? '';
  const cookie = page.cookies.find((c) => c.name === 'atlas_login_csrf');
  return { csrf, cookie: `atlas_login_csrf=${cookie?.value ?? ''}` };
}

/** POST /login as the browser sends the form. */
async function postLogin(app: FastifyInstance, fields: Record<string, string>, token?: { csrf: string; cookie: string }) {
  const t = token ?? (await loginForm(app));
  return app.inject({
    method: 'POST',
    url: '/login',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: t.cookie },
    payload: new URLSearchParams({ csrf: t.csrf, ...fields }).toString(),
  });
}

const ADMIN = { email: 'admin@example.com', password: 'correct-horse-battery' };

describe('web pages (in process)', () => {
  const t = signedInApp();

  it('send an anonymous visitor to the login page, and back after logging in', async () => {
    const res = await t.app.inject({ url: '/incidents/7' });
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe('/login?next=%2Fincidents%2F7');
    const posted = await postLogin(t.app, { ...ADMIN, next: '/incidents/7' });
    expect(posted.statusCode).toBe(303);
    expect(posted.headers.location).toBe('/incidents/7');
    expect(String(posted.headers['set-cookie'])).toMatch(/^atlas_session=ats_/);
  });

  it('never redirect a login to another site, however the path is written', async () => {
    for (const next of [
      'https://evil.example/',
      '//evil.example/',
      '/\\evil.example',
      '/\t/evil.example',
      '/\n/evil.example',
      '/\r\nSet-Cookie: x=1',
      '/..//evil.example',
    ]) {
      const res = await postLogin(t.app, { ...ADMIN, next });
      expect({ next, status: res.statusCode, location: res.headers.location }).toEqual({ next, status: 303, location: '/incidents' });
    }
    // A NUL anywhere is refused before any route sees it.
    expect((await postLogin(t.app, { ...ADMIN, next: '/x\u0000' })).statusCode).toBe(400);
    const fine = await postLogin(t.app, { ...ADMIN, next: '/incidents/3?status=open' });
    expect(fine.headers.location).toBe('/incidents/3?status=open');
  });

  it('refuse a login form posted from another site (login CSRF): no session is made', async () => {
    const before = await t.db.query('SELECT 1 FROM sessions');
    const own = await loginForm(t.app);
    for (const token of [
      { csrf: '', cookie: '' },
      { csrf: own.csrf, cookie: '' },
      { csrf: 'forged', cookie: own.cookie },
    ]) {
      const res = await postLogin(t.app, ADMIN, token);
      expect(res.statusCode).toBe(403);
      expect(res.body).toContain('This login form was not sent from this site');
      expect(res.headers['set-cookie']).not.toMatch(/atlas_session=ats_/);
    }
    expect(await t.db.query('SELECT 1 FROM sessions')).toHaveLength(before.length);
  });

  it("count failed form logins against the client address, not the server's own", async () => {
    const wrong = { email: 'admin@example.com', password: 'not-the-password' };
    const from = (remoteAddress: string) => async () => {
      const token = await loginForm(t.app);
      return t.app.inject({
        method: 'POST',
        url: '/login',
        remoteAddress,
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: token.cookie },
        payload: new URLSearchParams({ csrf: token.csrf, ...wrong }).toString(),
      });
    };
    await from('203.0.113.7')();
    const rows = await t.db.query<{ key: string }>(`SELECT key FROM login_failures WHERE key LIKE 'address:%'`);
    expect(rows.map((r) => r.key)).toContain('address:203.0.113.7');
    expect(rows.map((r) => r.key)).not.toContain('address:127.0.0.1');
    await t.db.query(`DELETE FROM login_failures`);
  });

  it('refuse a form without the anti-forgery token, changing nothing', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/incidents',
      headers: { cookie: t.admin, 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'title=forged&severity=low',
    });
    expect(res.statusCode).toBe(403);
    expect(res.body).toContain('anti-forgery token');
    expect(await t.db.query(`SELECT 1 FROM incidents WHERE title = 'forged'`)).toHaveLength(0);
  });

  it('keep admin pages from viewers, and viewers from acting', async () => {
    const users = await t.app.inject({ url: '/settings/users', headers: { cookie: t.viewer } });
    expect(users.statusCode).toBe(403);
    expect(users.body).toContain('this needs the admin role');
    const incidents = await t.app.inject({ url: '/incidents', headers: { cookie: t.viewer } });
    expect(incidents.statusCode).toBe(200);
    expect(incidents.body).not.toContain('New incident');
  });

  it('serve every page with security headers and HTML-escaped content', async () => {
    await t.app.inject({
      method: 'POST',
      url: '/api/incidents',
      headers: { cookie: t.admin },
      payload: { title: '<script>alert(1)</script>', severity: 'low' },
    });
    const res = await t.app.inject({ url: '/incidents', headers: { cookie: t.admin } });
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.headers['content-security-policy']).toBe("default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
    expect(res.headers['x-frame-options']).toBe('DENY');
    expect(res.body).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(res.body).not.toContain('<script>');
  });

  it('behind an HTTPS proxy, a form login sets a Secure session cookie and counts the client, not the proxy', async () => {
    const db = await backends[0]!.open();
    const { app } = await startTestApp(db, { trustProxy: true });
    try {
      await addUser(db, 'admin@example.com', 'admin');
      const viaProxy = { remoteAddress: '10.0.0.5', headers: { 'x-forwarded-for': '203.0.113.8', 'x-forwarded-proto': 'https' } };
      const page = await app.inject({ url: '/login', ...viaProxy });
      const csrf = /name="csrf" value="([^"]+)"/.exec(page.body)?.[1] ?? '';
      const token = page.cookies.find((c) => c.name === 'atlas_login_csrf')?.value ?? '';
      const post = (password: string) =>
        app.inject({
          method: 'POST',
          url: '/login',
          remoteAddress: viaProxy.remoteAddress,
          headers: { ...viaProxy.headers, 'content-type': 'application/x-www-form-urlencoded', cookie: `atlas_login_csrf=${token}` },
          payload: new URLSearchParams({ csrf, ...ADMIN, password }).toString(),
        });
      expect((await post('not-the-password')).statusCode).toBe(401);
      expect((await db.query<{ key: string }>(`SELECT key FROM login_failures WHERE key LIKE 'address:%'`)).map((r) => r.key)).toEqual(['address:203.0.113.8']);
      const res = await post(ADMIN.password);
      expect(res.statusCode).toBe(303);
      expect(res.cookies.find((c) => c.name === 'atlas_session')).toMatchObject({ secure: true, httpOnly: true, sameSite: 'Lax' });
    } finally {
      await app.close();
      await db.close();
    }
  });
});
