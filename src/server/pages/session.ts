import type { FastifyInstance } from 'fastify';
import { SESSION_COOKIE } from '../auth/sessions.js';
import { html } from './html.js';
import { layout } from './layout.js';
import { api, checkCsrf, errorText, forbiddenForm, localPath, requireViewer, sendPage, type Form } from './support.js';

function loginForm(next: string, email: string, error?: string) {
  return html`
${error ? html`<p class="alert" role="alert" id="login-error">${error}</p>` : ''}
<form class="stack" method="post" action="/login">
  <input type="hidden" name="next" value="${next}">
  <label>Email <input type="email" name="email" autocomplete="username" required value="${email}" autofocus></label>
  <label>Password <input type="password" name="password" autocomplete="current-password" required></label>
  <button class="primary" type="submit">Log in</button>
</form>`;
}

export function sessionPages(app: FastifyInstance): void {
  app.get('/', async (_request, reply) => reply.redirect('/incidents', 303));

  app.get<{ Querystring: { next?: string } }>('/login', async (request, reply) =>
    sendPage(reply, layout('Log in', undefined, loginForm(localPath(request.query.next), ''))),
  );

  app.post<{ Body: Form }>('/login', async (request, reply) => {
    const form = request.body ?? {};
    const next = localPath(form.next);
    const res = await app.inject({
      method: 'POST',
      url: '/api/login',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': request.ip, 'x-forwarded-proto': request.protocol },
      payload: JSON.stringify({ email: form.email ?? '', password: form.password ?? '' }),
    });
    if (res.statusCode !== 200) {
      return sendPage(reply, layout('Log in', undefined, loginForm(next, form.email ?? '', errorText(res.json()))), res.statusCode === 429 ? 429 : 401);
    }
    const cookie = res.headers['set-cookie'];
    if (cookie) void reply.header('set-cookie', cookie);
    return reply.redirect(next, 303);
  });

  app.post<{ Body: Form }>('/logout', async (request, reply) => {
    const viewer = await requireViewer(app, request, reply);
    if (!viewer) return reply;
    if (!checkCsrf(viewer, request.body)) return forbiddenForm(reply, viewer);
    await api(app, request, 'POST', '/api/logout');
    void reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return reply.redirect('/login', 303);
  });
}
