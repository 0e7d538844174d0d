import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { SESSION_COOKIE, setSessionCookie } from '../auth/sessions.js';
import type { Database } from '../../db/database.js';
import { adminExists, CREATE_FIRST_ADMIN, firstAdminHowTo } from '../../db/users.js';
import { html } from './html.js';
import { layout, type Site } from './layout.js';
import { api, checkCsrf, errorText, forbiddenForm, localPath, requireViewer, sameToken, sendPage, type Form } from './support.js';

/**
 * Login CSRF: another site must not sign a browser in as the attacker. The form carries a random
 * token that is also in a cookie only this site's pages can set (double submit).
 */
const LOGIN_CSRF_COOKIE = 'atlas_login_csrf';

function firstRunNotice(kind: Database['kind']) {
  const howTo = firstAdminHowTo(kind);
  return html`<p class="notice" id="first-run">
    No administrator exists yet: ${howTo.before}: <code>${CREATE_FIRST_ADMIN}</code> ${howTo.after}. Then log in here.
  </p>`;
}

function loginForm(next: string, email: string, csrf: string, firstRun: Database['kind'] | undefined, error?: string) {
  return html` ${error ? html`<p class="alert" role="alert" id="login-error">${error}</p>` : ''} ${firstRun ? firstRunNotice(firstRun) : ''}
    <form class="stack" method="post" action="/login">
      <input type="hidden" name="next" value="${next}" />
      <input type="hidden" name="csrf" value="${csrf}" />
      <label>Email <input type="email" name="email" autocomplete="username" required value="${email}" autofocus /></label>
      <label>Password <input type="password" name="password" autocomplete="current-password" required /></label>
      <button class="primary" type="submit">Log in</button>
    </form>`;
}

export function sessionPages(app: FastifyInstance, db: Database, site: Site): void {
  // Asked until an admin exists; from then on, never again (an admin is never removed: disabled at most).
  let adminMade = false;
  const firstRun = async () => {
    adminMade ||= await adminExists(db);
    return adminMade ? undefined : db.kind;
  };

  app.get('/', async (_request, reply) => reply.redirect('/incidents', 303));

  const page = async (request: FastifyRequest, reply: FastifyReply, next: string, email: string, error?: string, status = 200) => {
    const csrf = randomBytes(24).toString('base64url');
    void reply.setCookie(LOGIN_CSRF_COOKIE, csrf, { path: '/login', httpOnly: true, sameSite: 'strict', secure: request.protocol === 'https' });
    return sendPage(reply, layout(site, 'Log in', undefined, loginForm(next, email, csrf, await firstRun(), error)), status);
  };

  app.get<{ Querystring: { next?: string } }>('/login', async (request, reply) => page(request, reply, localPath(request.query.next), ''));

  app.post<{ Body: Form }>('/login', async (request, reply) => {
    const form = request.body ?? {};
    const next = localPath(form.next);
    if (!sameToken(form.csrf, request.cookies[LOGIN_CSRF_COOKIE])) {
      return page(request, reply, next, form.email ?? '', 'This login form was not sent from this site, or it is too old: log in again.', 403);
    }
    const res = await app.inject({
      method: 'POST',
      url: '/api/login',
      // The in-process call keeps the client's address, which the login throttle counts.
      remoteAddress: request.ip,
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ email: form.email ?? '', password: form.password ?? '' }),
    });
    if (res.statusCode !== 200) return page(request, reply, next, form.email ?? '', errorText(res.json()), res.statusCode === 429 ? 429 : 401);
    // Set again for the browser's own request, which alone knows whether it came over HTTPS.
    const session = res.cookies.find((c) => c.name === SESSION_COOKIE);
    if (session) setSessionCookie(reply, session.value, request.protocol === 'https', session.maxAge ?? 0);
    return reply.redirect(next, 303);
  });

  app.post<{ Body: Form }>('/logout', async (request, reply) => {
    const viewer = await requireViewer(app, request, reply);
    if (!viewer) return reply;
    if (!checkCsrf(viewer, request.body)) return forbiddenForm(site, reply, viewer);
    await api(app, request, 'POST', '/api/logout');
    void reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return reply.redirect('/login', 303);
  });
}
