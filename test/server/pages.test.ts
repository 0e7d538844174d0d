import { describe, expect, it } from 'vitest';
import { signedInApp } from '../support/app.js';

describe('web pages (in process)', () => {
  const t = signedInApp();

  it('send an anonymous visitor to the login page, and back after logging in', async () => {
    const res = await t.app.inject({ url: '/incidents/7' });
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe('/login?next=%2Fincidents%2F7');
    const posted = await t.app.inject({
      method: 'POST',
      url: '/login',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'email=admin%40example.com&password=correct-horse-battery&next=%2Fincidents%2F7',
    });
    expect(posted.statusCode).toBe(303);
    expect(posted.headers.location).toBe('/incidents/7');
    expect(String(posted.headers['set-cookie'])).toMatch(/^atlas_session=ats_/);
  });

  it('never redirect a login to another site', async () => {
    for (const next of ['https://evil.example/', '//evil.example/', '/\\evil.example']) {
      const res = await t.app.inject({
        method: 'POST',
        url: '/login',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: `email=admin%40example.com&password=correct-horse-battery&next=${encodeURIComponent(next)}`,
      });
      expect(res.headers.location).toBe('/incidents');
    }
  });

  it('refuse a form without the anti-forgery token, changing nothing', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/incidents', headers: { cookie: t.admin, 'content-type': 'application/x-www-form-urlencoded' }, payload: 'title=forged&severity=low' });
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
    await t.app.inject({ method: 'POST', url: '/api/incidents', headers: { cookie: t.admin }, payload: { title: '<script>alert(1)</script>', severity: 'low' } });
    const res = await t.app.inject({ url: '/incidents', headers: { cookie: t.admin } });
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.headers['content-security-policy']).toBe("default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
    expect(res.headers['x-frame-options']).toBe('DENY');
    expect(res.body).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(res.body).not.toContain('<script>');
  });
});
