import type { FastifyInstance } from 'fastify';
import type { Users } from '../../shared/api-shapes.js';
import { html } from './html.js';
import { errorPage, layout, table, type Site } from './layout.js';
import { api, back, errorText, onForm, outcome, requireViewer, sendPage, type Form } from './support.js';

const ROLES = ['viewer', 'operator', 'admin'] as const;
const NOTICES = {
  created: 'User created.',
  role: 'Role changed; it applies from their next request.',
  disabled: 'User disabled: their sessions ended.',
  enabled: 'User enabled.',
  password: 'Password reset: their sessions ended.',
};

/** Users (admins): made, their role changed, disabled or enabled, their password reset. */
export function userPages(app: FastifyInstance, site: Site): void {
  app.get<{ Querystring: { notice?: string; error?: string } }>('/settings/users', async (request, reply) => {
    const viewer = await requireViewer(app, request, reply);
    if (!viewer) return reply;
    const users = await api<Users>(app, request, 'GET', '/api/admin/users');
    if (users.status !== 200) return sendPage(reply, errorPage(site, users.status, errorText(users.body), viewer), users.status);
    const csrf = html`<input type="hidden" name="csrf" value="${viewer.csrf}" />`;
    const body = html` ${outcome(request.query, NOTICES)}
      ${table(
        'Users',
        ['Email', 'Role', 'State', 'Password'],
        users.body.users.map(
          (u) =>
            html`<tr data-user="${u.email}">
              <td>${u.email}</td>
              <td>
                <form class="actions" method="post" action="/settings/users/${u.id}/role">
                  ${csrf}<label
                    ><span class="skip">Role of ${u.email}</span>
                    <select name="role">
                      ${ROLES.map((r) => html`<option ${r === u.role ? html`selected` : ''}>${r}</option>`)}
                    </select></label
                  ><button type="submit">Change role<span class="sr"> of ${u.email}</span></button>
                </form>
              </td>
              <td>
                ${u.disabled ? 'disabled' : 'enabled'}
                <form class="inline" method="post" action="/settings/users/${u.id}/${u.disabled ? 'enable' : 'disable'}">
                  ${csrf}<button type="submit">${u.disabled ? 'Enable' : 'Disable'}<span class="sr"> ${u.email}</span></button>
                </form>
              </td>
              <td>
                <form class="actions" method="post" action="/settings/users/${u.id}/password">
                  ${csrf}<label>New password for ${u.email} <input type="password" name="password" required minlength="12" autocomplete="new-password" /></label
                  ><label class="check"><input type="checkbox" name="revokeTokens" value="true" checked /> also revoke their API tokens</label
                  ><button type="submit">Reset password<span class="sr"> of ${u.email}</span></button>
                </form>
              </td>
            </tr>`,
        ),
      )}
      <h2>New user</h2>
      <form class="stack" method="post" action="/settings/users">
        ${csrf}
        <label>Email <input type="email" name="email" required /></label>
        <label
          >Role
          <select name="role">
            ${ROLES.map((r) => html`<option>${r}</option>`)}
          </select></label
        >
        <label>Password (12 characters or more) <input type="password" name="password" required minlength="12" autocomplete="new-password" /></label>
        <button class="primary" type="submit">Create user</button>
      </form>`;
    return sendPage(reply, layout(site, 'Users', viewer, body));
  });

  onForm(app, site, '/settings/users', async (request) => {
    const f = request.body;
    const res = await api(app, request, 'POST', '/api/admin/users', { email: f.email ?? '', role: f.role ?? '', password: f.password ?? '' });
    return back('/settings/users', res, 'created');
  });

  // Each change, the patch it sends.
  const changes: Record<string, (f: Form) => Record<string, unknown>> = {
    role: (f) => ({ role: f.role ?? '' }),
    disable: () => ({ disabled: true }),
    enable: () => ({ disabled: false }),
    password: (f) => ({ password: f.password ?? '', revokeTokens: f.revokeTokens === 'true' }),
  };
  for (const [change, patch] of Object.entries(changes)) {
    onForm<{ id: string }>(app, site, `/settings/users/:id/${change}`, async (request) => {
      const res = await api(app, request, 'PATCH', `/api/admin/users/${encodeURIComponent(request.params.id)}`, patch(request.body));
      return back('/settings/users', res, change === 'disable' ? 'disabled' : change === 'enable' ? 'enabled' : change);
    });
  }
}
