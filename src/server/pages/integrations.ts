import type { FastifyInstance, FastifyRequest } from 'fastify';
import { WEBHOOK_EVENTS } from '../../db/incident-events.js';
import type { Deliveries, WebhookCreated, Webhooks, WebhookTest } from '../../shared/api-shapes.js';
import { ago, html, type Html } from './html.js';
import { errorPage, layout, table, type Site, type Viewer } from './layout.js';
import { api, back, errorText, onForm, outcome, requireViewer, sendPage, type Form } from './support.js';

const EVENTS = WEBHOOK_EVENTS.filter((e) => e !== 'test');
const NOTICES = { saved: 'Webhook saved.', enabled: 'Webhook enabled.', disabled: 'Webhook disabled: nothing is sent to it.', deleted: 'Webhook deleted.' };

type Webhook = Webhooks['webhooks'][number];

/** The fields of a webhook's form, filled with `w` when it is edited. */
function fields(viewer: Viewer, w?: Webhook): Html {
  return html`<input type="hidden" name="csrf" value="${viewer.csrf}" />
    <label>Name <input name="name" required maxlength="100" value="${w?.name ?? ''}" /></label>
    <label>URL (https:// in production) <input name="url" type="url" required maxlength="2000" value="${w?.url ?? ''}" /></label>
    <fieldset>
      <legend>Events</legend>
      ${EVENTS.map(
        (e) => html`<label class="check"><input type="checkbox" name="events" value="${e}" ${!w || w.events.includes(e) ? html`checked` : ''} /> ${e}</label>`,
      )}
    </fieldset>`;
}

/** The answer of a test just sent: its status, or why nothing was delivered, and what the receiver said. */
function tested(name: string, t: WebhookTest): Html {
  return html`<section class="${t.status === 'delivered' ? 'notice' : 'alert'}" role="status" aria-labelledby="test-answer">
    <h2 id="test-answer">Test sent to ${name}: ${t.status}</h2>
    <dl>
      <dt>HTTP status</dt>
      <dd id="test-status">${t.statusCode ?? 'none'}</dd>
      ${
        t.error
          ? html`<dt>Error</dt>
              <dd>${t.error}</dd>`
          : ''
      }
      <dt>Answer (first bytes)</dt>
      <dd><pre id="test-body">${t.answer ?? ''}</pre></dd>
    </dl>
  </section>`;
}

/** The API's body for a webhook's form: the events a form sends once per box ticked. */
function webhookBody(f: Form): Record<string, unknown> {
  const events = (f as Record<string, string | string[]>).events;
  return { name: f.name ?? '', url: f.url ?? '', events: [events ?? []].flat() };
}

/** Integrations (admins): webhooks made, edited, disabled, deleted and tested; their recent deliveries. */
export function integrationPages(app: FastifyInstance, site: Site): void {
  // `extra`: what a form just did, said above the webhooks (it may name one of them).
  const page = async (request: FastifyRequest, viewer: Viewer, extra?: (webhooks: Webhook[]) => Html) => {
    const hooks = await api<Webhooks>(app, request, 'GET', '/api/admin/webhooks');
    if (hooks.status !== 200) return { status: hooks.status, page: errorPage(site, hooks.status, errorText(hooks.body), viewer) };
    const csrf = html`<input type="hidden" name="csrf" value="${viewer.csrf}" />`;
    const sections = await Promise.all(
      hooks.body.webhooks.map(async (w) => {
        const d = await api<Deliveries>(app, request, 'GET', `/api/admin/webhooks/${w.id}/deliveries?limit=10`);
        return html`<section data-webhook="${w.name}">
          <h2>${w.name} ${w.enabled ? '' : html`<small>(disabled)</small>`}</h2>
          <p>
            ${w.url} · events: ${w.events.join(', ')} · ${w.deliveries.pending} pending,
            <span class="${w.deliveries.failed ? 'offline' : ''}">${w.deliveries.failed} failed</span>
          </p>
          <div class="actions">
            <form method="post" action="/settings/integrations/${w.id}/test">
              ${csrf}<button type="submit">Send a test<span class="sr"> to ${w.name}</span></button>
            </form>
            <form method="post" action="/settings/integrations/${w.id}/${w.enabled ? 'disable' : 'enable'}">
              ${csrf}<button type="submit">${w.enabled ? 'Disable' : 'Enable'}<span class="sr"> ${w.name}</span></button>
            </form>
            <form method="post" action="/settings/integrations/${w.id}/delete">
              ${csrf}<button type="submit">Delete<span class="sr"> ${w.name}</span></button>
            </form>
          </div>
          <details>
            <summary>Edit<span class="sr"> ${w.name}</span></summary>
            <form class="stack" method="post" action="/settings/integrations/${w.id}">
              ${fields(viewer, w)}<button type="submit">Save<span class="sr"> ${w.name}</span></button>
            </form>
          </details>
          ${
            d.body.deliveries.length
              ? table(
                  `Deliveries to ${w.name}`,
                  ['Delivery', 'Event', 'Status', 'Attempts', 'Last answer', 'When'],
                  d.body.deliveries.map(
                    (x) =>
                      html`<tr data-delivery="${x.id}">
                        <td>${x.id}</td>
                        <td>${x.event}</td>
                        <td class="${x.status === 'failed' ? 'offline' : x.status === 'delivered' ? 'online' : ''}">${x.status}</td>
                        <td>${x.attempts}</td>
                        <td>${x.lastStatusCode ?? x.lastError ?? ''}</td>
                        <td>${ago(x.createdAt)}</td>
                      </tr>`,
                  ),
                )
              : html`<p>No deliveries yet.</p>`
          }
        </section>`;
      }),
    );
    return {
      status: 200,
      page: layout(
        site,
        'Integrations',
        viewer,
        html`${extra ? extra(hooks.body.webhooks) : outcome(request.query as Record<string, string>, NOTICES)}
          ${sections.length ? sections : html`<p>No webhooks yet.</p>`}
          <h2>New webhook</h2>
          <p>Each delivery is signed with the webhook's secret (shown once, when it is made) and retried until the receiver answers 2xx.</p>
          <form class="stack" method="post" action="/settings/integrations">
            ${fields(viewer)}<button class="primary" type="submit">Create webhook</button>
          </form>`,
      ),
    };
  };

  app.get('/settings/integrations', async (request, reply) => {
    const viewer = await requireViewer(app, request, reply);
    if (!viewer) return reply;
    const { status, page: html } = await page(request, viewer);
    return sendPage(reply, html, status);
  });

  // Answered with the page itself: the signing secret is shown once and must not travel in a URL.
  onForm(app, site, '/settings/integrations', async (request, viewer, reply) => {
    const res = await api<WebhookCreated>(app, request, 'POST', '/api/admin/webhooks', webhookBody(request.body));
    if (res.status !== 201) return back('/settings/integrations', res, '');
    const secret = html`<section class="notice" role="status" aria-labelledby="new-webhook">
      <h2 id="new-webhook">Webhook “${res.body.webhook.name}” created</h2>
      <p>Its signing secret, shown only now (the receiver checks <code>x-atlas-signature</code> with it):</p>
      <pre id="webhook-secret">${res.body.secret}</pre>
      <button type="button" data-copy="webhook-secret" hidden>Copy the secret</button>
    </section>`;
    return sendPage(reply, (await page(request, viewer, () => secret)).page, 201);
  });

  onForm<{ id: string }>(app, site, '/settings/integrations/:id/test', async (request, viewer, reply) => {
    const id = encodeURIComponent(request.params.id);
    const res = await api<WebhookTest>(app, request, 'POST', `/api/admin/webhooks/${id}/test`);
    if (res.status !== 200) return back('/settings/integrations', res, '');
    const named = (webhooks: Webhook[]) => tested(webhooks.find((w) => w.id === request.params.id)?.name ?? request.params.id, res.body);
    return sendPage(reply, (await page(request, viewer, named)).page);
  });

  const changes: Record<string, [method: 'PATCH' | 'DELETE', body: (f: Form) => Record<string, unknown>, notice: string]> = {
    '': ['PATCH', webhookBody, 'saved'],
    '/enable': ['PATCH', () => ({ enabled: true }), 'enabled'],
    '/disable': ['PATCH', () => ({ enabled: false }), 'disabled'],
    '/delete': ['DELETE', () => ({}), 'deleted'],
  };
  for (const [path, [method, body, notice]] of Object.entries(changes)) {
    onForm<{ id: string }>(app, site, `/settings/integrations/:id${path}`, async (request) =>
      back(
        '/settings/integrations',
        await api(app, request, method, `/api/admin/webhooks/${encodeURIComponent(request.params.id)}`, body(request.body)),
        notice,
      ),
    );
  }
}
