import type { FastifyInstance } from 'fastify';
import type { TokenCreated, Tokens } from '../../shared/api-shapes.js';
import { ago, html, type Html } from './html.js';
import { layout, table, type Site, type Viewer } from './layout.js';
import { api, back, onForm, outcome, requireViewer, sendPage } from './support.js';

const NOTICES = { revoked: 'Token revoked: it no longer signs anything in.' };

/** The secret of a token just made: shown this once, with a copy button and how tpctl takes it. */
function created(token: TokenCreated['token'], viewer: Viewer): Html {
  return html`<section class="notice" role="status" aria-labelledby="new-token">
    <h2 id="new-token">Token “${token.name}” created</h2>
    <p>Copy it now: it is shown only this once, and stored only as a hash.</p>
    <pre id="token-secret">${token.secret}</pre>
    <button type="button" data-copy="token-secret" hidden>Copy the token</button>
    ${
      viewer.role === 'admin'
        ? html`<p>As the verification identity of <code>tpctl verify</code>, the bake and the upgrade reports (an admin's token):</p>
            <pre id="token-recipe">export ATLAS_VERIFY_TOKEN=${token.secret}</pre>`
        : html`<p>For a script or <code>curl</code>, as the header of each request:</p>
            <pre id="token-recipe">Authorization: Bearer ${token.secret}</pre>`
    }
    <button type="button" data-copy="token-recipe" hidden>Copy the line</button>
  </section>`;
}

/** API tokens: each user's own (they act as their owner), made, listed with their last use, revoked. */
export function tokenPages(app: FastifyInstance, site: Site): void {
  const page = async (request: Parameters<typeof requireViewer>[1], viewer: Viewer, made?: TokenCreated['token']) => {
    const list = await api<Tokens>(app, request, 'GET', '/api/tokens');
    const live = list.body.tokens.filter((t) => !t.revokedAt);
    return layout(
      site,
      'API tokens',
      viewer,
      html`${made ? created(made, viewer) : outcome(request.query as Record<string, string>, NOTICES)}
        <p>A token signs in as you (${viewer.email}, ${viewer.role}) from scripts and tools. Revoke one you no longer use.</p>
        ${
          live.length
            ? table(
                'Your API tokens',
                ['Name', 'Starts with', 'Created', 'Last used', html`<span class="skip">Action</span>`],
                live.map(
                  (t) =>
                    html`<tr data-token="${t.name}">
                      <td>${t.name}</td>
                      <td><code>${t.prefix}…</code></td>
                      <td>${ago(t.createdAt)}</td>
                      <td>${ago(t.lastUsedAt)}</td>
                      <td>
                        <form class="inline" method="post" action="/settings/tokens/${t.id}/revoke">
                          <input type="hidden" name="csrf" value="${viewer.csrf}" /><button type="submit">Revoke<span class="sr"> ${t.name}</span></button>
                        </form>
                      </td>
                    </tr>`,
                ),
              )
            : html`<p>You have no API tokens.</p>`
        }
        <h2>New token</h2>
        <form class="stack" method="post" action="/settings/tokens">
          <input type="hidden" name="csrf" value="${viewer.csrf}" />
          <label>Name (what it is for) <input name="name" required maxlength="100" placeholder="tpctl verify" /></label>
          <button class="primary" type="submit">Create token</button>
        </form>`,
    );
  };

  app.get('/settings/tokens', async (request, reply) => {
    const viewer = await requireViewer(app, request, reply);
    if (!viewer) return reply;
    return sendPage(reply, await page(request, viewer));
  });

  // Answered with the page itself, never a redirect: the secret must not travel in a URL.
  onForm(app, site, '/settings/tokens', async (request, viewer, reply) => {
    const res = await api<TokenCreated>(app, request, 'POST', '/api/tokens', { name: request.body.name ?? '' });
    if (res.status !== 201) return back('/settings/tokens', res, '');
    return sendPage(reply, await page(request, viewer, res.body.token), 201);
  });

  onForm<{ id: string }>(app, site, '/settings/tokens/:id/revoke', async (request) =>
    back('/settings/tokens', await api(app, request, 'DELETE', `/api/tokens/${encodeURIComponent(request.params.id)}`), 'revoked'),
  );
}
