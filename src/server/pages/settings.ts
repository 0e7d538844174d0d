import type { FastifyInstance } from 'fastify';
import { ago, html, text } from './html.js';
import { layout } from './layout.js';
import type { Agents, Deliveries, Health, License, Users, Webhooks } from '../../shared/api-shapes.js';
import { api, checkCsrf, errorText, forbiddenForm, requireViewer, sendPage, type Form } from './support.js';

export function settingsPages(app: FastifyInstance): void {
  app.get('/settings', async (request, reply) => {
    const viewer = await requireViewer(app, request, reply);
    if (!viewer) return reply;
    const health = await api<Health>(app, request, 'GET', '/api/health');
    const license = viewer.role === 'admin' ? await api<License>(app, request, 'GET', '/api/admin/license') : undefined;
    const l = license?.body.license;
    const body = html` <h2>Version</h2>
      <dl>
        <dt>Running version</dt>
        <dd id="running-version">${license?.body.version ?? health.body.version}</dd>
        <dt>Health</dt>
        <dd>${health.body.status}</dd>
      </dl>
      <h2>License</h2>
      ${
        l
          ? html`<dl>
              <dt>Status</dt>
              <dd id="license-status">${text(l.status)}${l.valid ? '' : html` <span class="offline">(${text(l.message)})</span>`}</dd>
              ${
                l.licensee
                  ? html`<dt>Licensee</dt>
                      <dd>${text(l.licensee)}</dd>
                      <dt>Tenant</dt>
                      <dd>${text(l.tenant)}</dd>
                      <dt>Seats</dt>
                      <dd>${text(l.seats)}</dd>
                      <dt>Expires</dt>
                      <dd>${text(l.expiresAt)}</dd>`
                  : ''
              }
            </dl>`
          : html`<p>The license is shown to admins.</p>`
      }
      <p>
        <a href="/settings/agents">Edge Agents</a
        >${viewer.role === 'admin' ? html` · <a href="/settings/integrations">Integrations</a> · <a href="/settings/users">Users</a>` : ''}
      </p>`;
    return sendPage(reply, layout('Settings', viewer, body));
  });

  app.get('/settings/agents', async (request, reply) => {
    const viewer = await requireViewer(app, request, reply);
    if (!viewer) return reply;
    const res = await api<Agents>(app, request, 'GET', '/api/agents');
    const body = html` <p>An agent is online when it has reported in within the last ${res.body.onlineWithinSeconds} s. This page refreshes every 5 s.</p>
      <table>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">State</th>
            <th scope="col">Last seen</th>
            <th scope="col">Version</th>
            <th scope="col">Host</th>
            <th scope="col">Labels</th>
          </tr>
        </thead>
        <tbody>
          ${res.body.agents.map(
            (a) =>
              html`<tr data-agent="${a.name}">
                <td>${a.name}</td>
                <td class="${a.online ? 'online' : 'offline'}">${a.revoked ? 'revoked' : a.online ? 'online' : 'offline'}</td>
                <td>${ago(a.lastSeenAt)}</td>
                <td>${a.version ?? ''}</td>
                <td>${a.hostname ?? ''}</td>
                <td>${a.labels.join(', ')}</td>
              </tr>`,
          )}
        </tbody>
      </table>
      ${res.body.agents.length === 0 ? html`<p>No agents are enrolled yet.</p>` : ''}`;
    return sendPage(reply, layout('Edge Agents', viewer, body, { refreshSeconds: 5 }));
  });

  app.get('/settings/integrations', async (request, reply) => {
    const viewer = await requireViewer(app, request, reply);
    if (!viewer) return reply;
    const hooks = await api<Webhooks>(app, request, 'GET', '/api/admin/webhooks');
    if (hooks.status !== 200)
      return sendPage(reply, layout('Integrations', viewer, html`<p class="alert" role="alert">${errorText(hooks.body)}</p>`), hooks.status);
    const sections = await Promise.all(
      hooks.body.webhooks.map(async (w) => {
        const d = await api<Deliveries>(app, request, 'GET', `/api/admin/webhooks/${w.id}/deliveries?limit=5`);
        return html`<section>
          <h2>${w.name} ${w.enabled ? '' : html`<small>(disabled)</small>`}</h2>
          <p>
            ${w.url} · events: ${w.events.join(', ')} · ${w.deliveries.pending} pending,
            <span class="${w.deliveries.failed ? 'offline' : ''}">${w.deliveries.failed} failed</span>
          </p>
          <table>
            <thead>
              <tr>
                <th scope="col">Delivery</th>
                <th scope="col">Event</th>
                <th scope="col">Status</th>
                <th scope="col">Attempts</th>
                <th scope="col">Last answer</th>
                <th scope="col">When</th>
              </tr>
            </thead>
            <tbody>
              ${d.body.deliveries.map(
                (x) =>
                  html`<tr>
                    <td>${x.id}</td>
                    <td>${x.event}</td>
                    <td class="${x.status === 'failed' ? 'offline' : x.status === 'delivered' ? 'online' : ''}">${x.status}</td>
                    <td>${x.attempts}</td>
                    <td>${x.lastStatusCode ?? x.lastError ?? ''}</td>
                    <td>${ago(x.createdAt)}</td>
                  </tr>`,
              )}
            </tbody>
          </table>
        </section>`;
      }),
    );
    return sendPage(reply, layout('Integrations', viewer, html`${sections.length ? sections : html`<p>No webhooks yet (POST /api/admin/webhooks).</p>`}`));
  });

  app.get<{ Querystring: { error?: string } }>('/settings/users', async (request, reply) => {
    const viewer = await requireViewer(app, request, reply);
    if (!viewer) return reply;
    const users = await api<Users>(app, request, 'GET', '/api/admin/users');
    if (users.status !== 200) return sendPage(reply, layout('Users', viewer, html`<p class="alert" role="alert">${errorText(users.body)}</p>`), users.status);
    const body = html` ${request.query.error ? html`<p class="alert" role="alert">${request.query.error}</p>` : ''}
      <table>
        <thead>
          <tr>
            <th scope="col">Email</th>
            <th scope="col">Role</th>
            <th scope="col">State</th>
            <th scope="col"><span class="skip">Action</span></th>
          </tr>
        </thead>
        <tbody>
          ${users.body.users.map(
            (u) =>
              html`<tr>
                <td>${u.email}</td>
                <td>${u.role}</td>
                <td>${u.disabled ? 'disabled' : 'enabled'}</td>
                <td>
                  <form class="inline" method="post" action="/settings/users/${u.id}">
                    <input type="hidden" name="csrf" value="${viewer.csrf}" /><input
                      type="hidden"
                      name="disabled"
                      value="${u.disabled ? 'false' : 'true'}"
                    /><button type="submit">${u.disabled ? 'Enable' : 'Disable'} ${u.email}</button>
                  </form>
                </td>
              </tr>`,
          )}
        </tbody>
      </table>
      <h2>New user</h2>
      <form class="stack" method="post" action="/settings/users">
        <input type="hidden" name="csrf" value="${viewer.csrf}" />
        <label>Email <input type="email" name="email" required /></label>
        <label
          >Role
          <select name="role">
            <option>viewer</option>
            <option>operator</option>
            <option>admin</option>
          </select></label
        >
        <label>Password (12 characters or more) <input type="password" name="password" required minlength="12" autocomplete="new-password" /></label>
        <button class="primary" type="submit">Create user</button>
      </form>`;
    return sendPage(reply, layout('Users', viewer, body));
  });

  app.post<{ Body: Form }>('/settings/users', async (request, reply) => {
    const viewer = await requireViewer(app, request, reply);
    if (!viewer) return reply;
    if (!checkCsrf(viewer, request.body)) return forbiddenForm(reply, viewer);
    const f = request.body;
    const res = await api(app, request, 'POST', '/api/admin/users', { email: f.email ?? '', role: f.role ?? '', password: f.password ?? '' });
    return reply.redirect(res.status === 201 ? '/settings/users' : `/settings/users?error=${encodeURIComponent(errorText(res.body))}`, 303);
  });

  app.post<{ Params: { id: string }; Body: Form }>('/settings/users/:id', async (request, reply) => {
    const viewer = await requireViewer(app, request, reply);
    if (!viewer) return reply;
    if (!checkCsrf(viewer, request.body)) return forbiddenForm(reply, viewer);
    const res = await api(app, request, 'PATCH', `/api/admin/users/${encodeURIComponent(request.params.id)}`, { disabled: request.body.disabled === 'true' });
    return reply.redirect(res.status === 200 ? '/settings/users' : `/settings/users?error=${encodeURIComponent(errorText(res.body))}`, 303);
  });
}
