import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signLicense } from '../../src/server/license.js';
import { addUser, licenseKeys, login, signedInApp, TEST_VERSION } from '../support/app.js';

/** The pages an administrator runs the Tenant Plane from, in process, as a browser without JavaScript posts their forms. */
const t = signedInApp();
let operator: string;
let receiver: Server;
let receiverUrl: string;

beforeAll(async () => {
  await addUser(t.db, 'operator@example.com', 'operator');
  operator = await login(t.app, 'operator@example.com');
  // A webhook receiver that answers with a body of its own.
  receiver = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(202, { 'content-type': 'text/plain' }).end(`thanks from the receiver\u0007${'x'.repeat(400)}`));
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
});
afterAll(() => new Promise<void>((resolve) => receiver?.close(() => resolve())));

/** The anti-forgery token a page gives the session `cookie`. */
async function csrfOf(app: FastifyInstance, cookie: string): Promise<string> {
  const page = await app.inject({ url: '/settings/tokens', headers: { cookie } });
  return /name="csrf" value="([^"]+)"/.exec(page.body)?.[1] ?? '';
}

/** A form posted as a browser without JavaScript posts it (repeated fields for arrays). */
async function post(cookie: string, url: string, fields: Record<string, string | string[]> = {}, csrf?: string) {
  const body = new URLSearchParams();
  body.append('csrf', csrf ?? (await csrfOf(t.app, cookie)));
  for (const [k, v] of Object.entries(fields)) for (const one of [v].flat()) body.append(k, one);
  return t.app.inject({ method: 'POST', url, headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, payload: body.toString() });
}

const page = (cookie: string, url: string) => t.app.inject({ url, headers: { cookie } });
const apiAs = (cookie: string, method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object) =>
  t.app.inject({ method, url, headers: { cookie }, ...(payload ? { payload } : method === 'GET' ? {} : { payload: {} }) });

describe('the frame', () => {
  it('a page that is not there is a 404 page in the layout, with the product and version; the API still answers JSON', async () => {
    const res = await page(t.admin, '/settings/nothing-here');
    expect(res.statusCode).toBe(404);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.body).toContain('There is no page /settings/nothing-here.');
    expect(res.body).toContain(`<span id="site-version">${TEST_VERSION}</span>`);
    expect(res.body).toContain('<nav aria-label="Main">');
    const anonymous = await t.app.inject({ url: '/nothing?<b>' });
    expect(anonymous.statusCode).toBe(404);
    expect(anonymous.body).not.toContain('<nav');
    expect(anonymous.body).not.toContain('<b>');
    const api = await page(t.admin, '/api/nothing');
    expect(api.statusCode).toBe(404);
    expect(api.json()).toMatchObject({ error: 'not_found' });
  });

  it('serves its icon, its script and its stylesheet, which every page names', async () => {
    for (const [url, type] of [
      ['/favicon.ico', 'image/svg+xml'],
      ['/assets/app.js', 'text/javascript; charset=utf-8'],
      ['/assets/app.css', 'text/css; charset=utf-8'],
    ]) {
      const res = await t.app.inject({ url });
      expect({ url, status: res.statusCode, type: res.headers['content-type'] }).toEqual({ url, status: 200, type });
    }
    const login = await t.app.inject({ url: '/login' });
    expect(login.body).toContain('<link rel="icon" href="/favicon.ico"');
    expect(login.body).toContain('<script src="/assets/app.js" defer></script>');
  });

  it('a body the form parser cannot read is a 400 page, not JSON and not a 500', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/settings/tokens',
      headers: { cookie: t.admin, 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'x'.repeat(300 * 1024),
    });
    expect(res.statusCode).toBe(413);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
  });
});

describe('API tokens', () => {
  it('made on the page, shown once with the ATLAS_VERIFY_TOKEN line, signs in; listed with its last use; revoked, it no longer does', async () => {
    const made = await post(t.admin, '/settings/tokens', { name: 'tpctl verify' });
    expect(made.statusCode).toBe(201);
    const secret = /<pre id="token-secret">(atp_[A-Za-z0-9_-]{43})<\/pre>/.exec(made.body)?.[1] ?? '';
    expect(secret).not.toBe('');
    expect(made.body).toContain(`export ATLAS_VERIFY_TOKEN=${secret}`);
    expect(made.headers['cache-control']).toBe('no-store');
    const me = () => t.app.inject({ url: '/api/me', headers: { authorization: `Bearer ${secret}` } });
    expect((await me()).statusCode).toBe(200);
    const listed = await page(t.admin, '/settings/tokens');
    expect(listed.body).toContain('<tr data-token="tpctl verify">');
    expect(listed.body).not.toContain(secret);
    expect(listed.body).toMatch(/<td><code>atp_\S{4}…<\/code><\/td>\s*<td><time[^>]*>\d+ s ago<\/time><\/td>\s*<td><time/);
    const id = /action="\/settings\/tokens\/([0-9a-f-]{36})\/revoke"/.exec(listed.body)?.[1] ?? '';
    const revoked = await post(t.admin, `/settings/tokens/${id}/revoke`);
    expect(revoked.headers.location).toBe('/settings/tokens?notice=revoked');
    expect((await me()).statusCode).toBe(401);
    // Another user's token, or none, is not revoked by the page either.
    expect((await post(t.viewer, `/settings/tokens/${id}/revoke`)).headers.location).toMatch(/^\/settings\/tokens\?error=you%20have%20no%20API%20token/);
  });

  it("a viewer's token comes with the header to send, not the verification line (that takes an admin's)", async () => {
    const made = await post(t.viewer, '/settings/tokens', { name: 'a script' });
    expect(made.statusCode).toBe(201);
    expect(made.body).toMatch(/<pre id="token-recipe">Authorization: Bearer atp_\S{43}<\/pre>/);
    expect(made.body).not.toContain('ATLAS_VERIFY_TOKEN');
  });

  it('a name the API refuses goes back to the form with its reason', async () => {
    const res = await post(t.admin, '/settings/tokens', { name: '   ' });
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toMatch(/^\/settings\/tokens\?error=/);
  });
});

describe('users', () => {
  const userId = async (email: string) => (await t.db.query<{ id: string }>('SELECT id FROM users WHERE email = $1', [email]))[0]!.id;

  it('an admin changes a role, disables and enables, and resets a password keeping or revoking the tokens', async () => {
    await addUser(t.db, 'pat@example.com', 'viewer');
    const pat = await login(t.app, 'pat@example.com');
    const id = await userId('pat@example.com');
    expect((await post(t.admin, `/settings/users/${id}/role`, { role: 'operator' })).headers.location).toBe('/settings/users?notice=role');
    expect((await apiAs(pat, 'GET', '/api/me')).json()).toMatchObject({ user: { role: 'operator' } });

    const token = (await apiAs(pat, 'POST', '/api/tokens', { name: 'script' })).json<{ token: { secret: string } }>().token.secret;
    const tokenWorks = async () => (await t.app.inject({ url: '/api/me', headers: { authorization: `Bearer ${token}` } })).statusCode === 200;
    const kept = await post(t.admin, `/settings/users/${id}/password`, { password: 'a-new-password-1' });
    expect(kept.headers.location).toBe('/settings/users?notice=password');
    expect(await tokenWorks()).toBe(true);
    expect((await apiAs(pat, 'GET', '/api/me')).statusCode).toBe(401);
    await post(t.admin, `/settings/users/${id}/password`, { password: 'a-new-password-2', revokeTokens: 'true' });
    expect(await tokenWorks()).toBe(false);

    expect((await post(t.admin, `/settings/users/${id}/disable`)).headers.location).toBe('/settings/users?notice=disabled');
    expect((await t.app.inject({ method: 'POST', url: '/api/login', payload: { email: 'pat@example.com', password: 'a-new-password-2' } })).statusCode).toBe(
      403,
    );
    expect((await post(t.admin, `/settings/users/${id}/enable`)).headers.location).toBe('/settings/users?notice=enabled');
    const users = await page(t.admin, '/settings/users');
    expect(users.body).toMatch(/<tr data-user="pat@example.com">[\s\S]*?<option selected>operator<\/option>[\s\S]*?enabled/);
  });

  it('a weak password, and the last admin disabled, are refused with the reason, changing nothing', async () => {
    const id = await userId('admin@example.com');
    expect(decodeURIComponent((await post(t.admin, `/settings/users/${id}/password`, { password: 'short' })).headers.location as string)).toMatch(
      /^\/settings\/users\?error=.*12/,
    );
    expect(decodeURIComponent((await post(t.admin, `/settings/users/${id}/disable`)).headers.location as string)).toContain('last enabled admin');
  });

  it('the API takes revokeTokens only with a new password', async () => {
    const id = await userId('viewer@example.com');
    const res = await apiAs(t.admin, 'PATCH', `/api/admin/users/${id}`, { revokeTokens: true });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ message: 'revokeTokens goes with a new password' });
  });
});

describe('the license', () => {
  it('is installed from Settings; a document that does not verify goes back with the reason', async () => {
    const bad = await post(t.admin, '/settings/license', { document: 'not-a-license' });
    expect(decodeURIComponent(bad.headers.location as string)).toMatch(/^\/settings\?error=license refused/);
    const document = signLicense(
      { licensee: 'Acme Corp', tenant: 'acme', seats: 50, issuedAt: '2026-01-01T00:00:00Z', expiresAt: '2099-01-01T00:00:00Z' },
      licenseKeys.privateKey,
    );
    expect((await post(t.admin, '/settings/license', { document })).headers.location).toBe('/settings?notice=license');
    const settings = await page(t.admin, '/settings?notice=license');
    expect(settings.body).toContain('<dd id="license-status">valid</dd>');
    expect(settings.body).toContain('License installed.');
  });
});

describe('integrations', () => {
  it('a webhook made (secret once), tested (status and first bytes), edited, disabled, deleted; its deliveries listed', async () => {
    const made = await post(t.admin, '/settings/integrations', { name: 'pager', url: receiverUrl, events: ['incident.created', 'incident.resolved'] });
    expect(made.statusCode).toBe(201);
    expect(made.body).toMatch(/<pre id="webhook-secret">whs_\S+<\/pre>/);
    const [hook] = await t.db.query<{ id: string; events: string[] }>(`SELECT id, events FROM webhooks WHERE name = 'pager'`);
    expect(hook?.events).toEqual(['incident.created', 'incident.resolved']);

    const tested = await post(t.admin, `/settings/integrations/${hook!.id}/test`);
    expect(tested.statusCode).toBe(200);
    expect(tested.body).toContain('Test sent to pager: delivered');
    expect(tested.body).toContain('<dd id="test-status">202</dd>');
    // The first 200 bytes, a control character shown as U+FFFD.
    expect(tested.body).toContain(`<pre id="test-body">thanks from the receiver\ufffd${'x'.repeat(175)}</pre>`);
    expect(tested.body).toMatch(/<tr data-delivery="\d+">\s*<td>\d+<\/td>\s*<td>test<\/td>\s*<td class="online">delivered<\/td>/);

    expect(
      (await post(t.admin, `/settings/integrations/${hook!.id}`, { name: 'pager-2', url: receiverUrl, events: 'incident.created' })).headers.location,
    ).toBe('/settings/integrations?notice=saved');
    expect((await post(t.admin, `/settings/integrations/${hook!.id}/disable`)).headers.location).toBe('/settings/integrations?notice=disabled');
    expect(await t.db.query(`SELECT name, events, enabled FROM webhooks WHERE id = $1`, [hook!.id])).toEqual([
      { name: 'pager-2', events: ['incident.created'], enabled: false },
    ]);
    expect((await post(t.admin, `/settings/integrations/${hook!.id}/delete`)).headers.location).toBe('/settings/integrations?notice=deleted');
    expect(await t.db.query(`SELECT 1 FROM webhooks WHERE id = $1`, [hook!.id])).toEqual([]);
  });

  it('an address the webhook policy refuses, or no event, goes back with the reason', async () => {
    const internal = await post(t.admin, '/settings/integrations', { name: 'metadata', url: 'http://169.254.169.254/latest', events: 'incident.created' });
    expect(decodeURIComponent(internal.headers.location as string)).toMatch(/^\/settings\/integrations\?error=.+/);
    const none = await post(t.admin, '/settings/integrations', { name: 'none', url: receiverUrl });
    expect(none.headers.location).toMatch(/^\/settings\/integrations\?error=/);
    expect(await t.db.query(`SELECT 1 FROM webhooks WHERE name IN ('metadata', 'none')`)).toEqual([]);
  });
});

describe('edge agents', () => {
  it('an enrollment token comes with the commands to paste, which enroll; the agent is revoked from its row', async () => {
    const made = await post(t.admin, '/settings/agents/enrollment', { name: 'edge-7', labels: 'site:paris, gpu' });
    expect(made.statusCode).toBe(201);
    expect(made.body).not.toContain('http-equiv="refresh"');
    const token = /ATLAS_ENROLLMENT_TOKEN=(aet_\S+) atlas-edge-agent enroll --config agent.json/.exec(made.body)?.[1] ?? '';
    expect(made.body).toContain('{&quot;server&quot;:&quot;http://localhost:80&quot;,&quot;name&quot;:&quot;edge-7&quot;');
    const enrolled = await t.app.inject({ method: 'POST', url: '/api/agents/enroll', payload: { token, name: 'edge-7', runbooks: ['disk-usage'] } });
    expect(enrolled.statusCode).toBe(201);
    const credential = enrolled.json<{ credential: string; agent: { id: string } }>();
    const agents = await page(t.admin, '/settings/agents');
    expect(agents.body).toMatch(/<tr data-agent="edge-7">[\s\S]*?<td>site:paris, gpu<\/td>\s*<td>disk-usage<\/td>/);
    expect((await post(t.admin, `/settings/agents/${credential.agent.id}/revoke`)).headers.location).toBe('/settings/agents?notice=revoked');
    const checkin = await t.app.inject({
      method: 'POST',
      url: '/api/agent/checkin',
      headers: { authorization: `Bearer ${credential.credential}` },
      payload: {},
    });
    expect(checkin.statusCode).toBe(401);
  });
});

describe('incidents', () => {
  it('a new incident is low severity unless chosen; it is assigned, commented on and resolved with a note, each in its timeline', async () => {
    const list = await page(operator, '/incidents');
    expect(list.body).toMatch(/<select name="severity">\s*<option>low<\/option>/);
    const opened = await post(operator, '/incidents', { title: 'Disk filling on edge-7', severity: 'low', description: '' });
    const path = opened.headers.location!.split('?')[0]!;
    const id = path.split('/').pop()!;
    expect(
      (
        await post(operator, `${path}/assign`, {
          assigneeId: (await t.db.query<{ id: string }>(`SELECT id FROM users WHERE email = 'operator@example.com'`))[0]!.id,
        })
      ).headers.location,
    ).toBe(`${path}?notice=assigned`);
    expect((await post(operator, `${path}/comments`, { text: 'cleaned /var/tmp <b>now</b>' })).headers.location).toBe(`${path}?notice=commented`);
    expect((await post(operator, `${path}/resolve`, { note: 'freed 40 GB' })).headers.location).toBe(`${path}?notice=resolved`);
    const detail = await page(t.admin, path);
    const timeline = [...detail.body.matchAll(/<li><time[^>]*>[^<]*<\/time>: ([\s\S]*?)<\/li>/g)].map((m) => m[1]!.replace(/\s+/g, ' '));
    expect(timeline).toEqual([
      '<strong>created</strong> by operator@example.com',
      '<strong>updated</strong> by operator@example.com: assignee operator@example.com',
      '<strong>comment</strong> by operator@example.com: cleaned /var/tmp &lt;b&gt;now&lt;/b&gt;',
      '<strong>resolved</strong> by operator@example.com: freed 40 GB',
    ]);
    expect(detail.body).toContain('<dd>operator@example.com</dd>');
    expect(Number(id)).toBeGreaterThan(0);
  });

  it('a runbook is picked among those the agents offer, as agent and runbook together', async () => {
    const token = (await apiAs(t.admin, 'POST', '/api/admin/enrollment-tokens', { name: 'edge-8' })).json<{ enrollmentToken: { token: string } }>()
      .enrollmentToken.token;
    const agent = (await t.app.inject({ method: 'POST', url: '/api/agents/enroll', payload: { token, name: 'edge-8', runbooks: ['restart-proxy'] } })).json<{
      agent: { id: string };
    }>().agent;
    const opened = await post(operator, '/incidents', { title: 'Proxy down', severity: 'high' });
    const path = opened.headers.location!.split('?')[0]!;
    const detail = await page(operator, path);
    expect(detail.body).toContain(`<option value="${agent.id}/restart-proxy">restart-proxy on edge-8</option>`);
    expect((await post(operator, `${path}/runbooks`, { target: `${agent.id}/restart-proxy` })).headers.location).toBe(`${path}?notice=started`);
  });
});

describe('role checks and forgery', () => {
  // Every form an admin alone may send, with fields that would otherwise be accepted.
  const adminForms = async () => {
    const viewerId = (await t.db.query<{ id: string }>(`SELECT id FROM users WHERE email = 'viewer@example.com'`))[0]!.id;
    const hookId = (await apiAs(t.admin, 'POST', '/api/admin/webhooks', { name: 'guarded', url: receiverUrl, events: ['incident.created'] })).json<{
      webhook: { id: string };
    }>().webhook.id;
    return [
      ['/settings/users', { email: 'new@example.com', role: 'admin', password: 'long-enough-pw-1' }],
      [`/settings/users/${viewerId}/role`, { role: 'admin' }],
      [`/settings/users/${viewerId}/disable`, {}],
      [`/settings/users/${viewerId}/enable`, {}],
      [`/settings/users/${viewerId}/password`, { password: 'long-enough-pw-1' }],
      ['/settings/license', { document: 'x' }],
      ['/settings/integrations', { name: 'x', url: receiverUrl, events: 'incident.created' }],
      [`/settings/integrations/${hookId}`, { name: 'renamed', url: receiverUrl, events: 'incident.created' }],
      [`/settings/integrations/${hookId}/test`, {}],
      [`/settings/integrations/${hookId}/disable`, {}],
      [`/settings/integrations/${hookId}/enable`, {}],
      [`/settings/integrations/${hookId}/delete`, {}],
      ['/settings/agents/enrollment', { name: 'edge-x' }],
      [`/settings/agents/00000000-0000-4000-8000-000000000000/revoke`, {}],
    ] as const;
  };

  it('a viewer (and an operator) gets a 403 page for every admin form, and nothing changes', async () => {
    const forms = await adminForms();
    const before = await t.db.query(
      `SELECT (SELECT count(*) FROM users) AS users, (SELECT count(*) FROM webhooks) AS hooks, (SELECT count(*) FROM webhook_deliveries) AS deliveries, (SELECT count(*) FROM enrollment_tokens) AS tokens, (SELECT role FROM users WHERE email = 'viewer@example.com') AS role`,
    );
    for (const [url, fields] of forms) {
      for (const [who, cookie] of [
        ['viewer', t.viewer],
        ['operator', operator],
      ] as const) {
        const res = await post(cookie, url, fields);
        expect({ who, url, status: res.statusCode }).toEqual({ who, url, status: 403 });
        expect(res.body).toContain('this needs the admin role');
      }
    }
    expect(
      await t.db.query(
        `SELECT (SELECT count(*) FROM users) AS users, (SELECT count(*) FROM webhooks) AS hooks, (SELECT count(*) FROM webhook_deliveries) AS deliveries, (SELECT count(*) FROM enrollment_tokens) AS tokens, (SELECT role FROM users WHERE email = 'viewer@example.com') AS role`,
      ),
    ).toEqual(before);
    for (const url of ['/settings/users', '/settings/integrations']) expect((await page(t.viewer, url)).statusCode).toBe(403);
  });

  it('a viewer may not act on incidents from the page either', async () => {
    const id = (await apiAs(t.admin, 'POST', '/api/incidents', { title: 'Guarded', severity: 'low' })).json<{ incident: { id: number } }>().incident.id;
    for (const action of ['acknowledge', 'resolve', 'comments', 'assign', 'runbooks']) {
      const res = await post(t.viewer, `/incidents/${id}/${action}`, { text: 'x', note: 'x' });
      expect({ action, status: res.statusCode }).toEqual({ action, status: 403 });
    }
    expect((await post(t.viewer, '/incidents', { title: 'x', severity: 'low' })).statusCode).toBe(403);
  });

  it('every form refuses a post without the anti-forgery token, or with another session’s', async () => {
    const adminCsrf = await csrfOf(t.app, t.admin);
    for (const [url, fields] of await adminForms()) {
      expect((await post(t.admin, url, fields, '')).statusCode).toBe(403);
      expect((await post(t.viewer, url, fields, adminCsrf)).statusCode).toBe(403);
    }
    expect((await post(t.admin, '/settings/tokens', { name: 'forged' }, 'forged')).statusCode).toBe(403);
    expect(await t.db.query(`SELECT 1 FROM api_tokens WHERE name = 'forged'`)).toEqual([]);
  });
});
