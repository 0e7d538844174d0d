import type { FastifyInstance } from 'fastify';
import { html, text } from './html.js';
import { layout, type Site } from './layout.js';
import type { Health, License } from '../../shared/api-shapes.js';
import { api, back, onForm, outcome, requireViewer, sendPage } from './support.js';

const NOTICES = { license: 'License installed.' };

/** Settings: the running version, health, and the license (installed here by an admin). */
export function settingsPages(app: FastifyInstance, site: Site): void {
  app.get<{ Querystring: { notice?: string; error?: string } }>('/settings', async (request, reply) => {
    const viewer = await requireViewer(app, request, reply);
    if (!viewer) return reply;
    const health = await api<Health>(app, request, 'GET', '/api/health');
    const license = viewer.role === 'admin' ? await api<License>(app, request, 'GET', '/api/admin/license') : undefined;
    const l = license?.body.license;
    const body = html` ${outcome(request.query, NOTICES)}
      <h2>Version</h2>
      <dl>
        <dt>Running version</dt>
        <dd id="running-version">${license?.body.version ?? health.body.version}</dd>
        <dt>Health</dt>
        <dd>${health.body.status}</dd>
      </dl>
      <p><a href="/settings/upgrades">Upgrades &amp; backups</a>: the versions this Tenant Plane has run, and its backups.</p>
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
              </dl>
              <form class="stack" method="post" action="/settings/license">
                <input type="hidden" name="csrf" value="${viewer.csrf}" />
                <label
                  >License document (paste it, or choose its file)
                  <textarea id="license-document" name="document" rows="4" required maxlength="8192"></textarea>
                </label>
                <label hidden>License file <input type="file" accept=".lic,.txt,.json,text/plain" data-into="license-document" /></label>
                <button class="primary" type="submit">Install license</button>
              </form>`
          : html`<p>The license is shown to admins.</p>`
      }`;
    return sendPage(reply, layout(site, 'Settings', viewer, body));
  });

  onForm(app, site, '/settings/license', async (request) =>
    back('/settings', await api(app, request, 'PUT', '/api/admin/license', { document: request.body.document ?? '' }), 'license'),
  );
}
