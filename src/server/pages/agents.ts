import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Agents, EnrollmentTokenCreated } from '../../shared/api-shapes.js';
import { ago, html, type Html } from './html.js';
import { layout, table, type Site, type Viewer } from './layout.js';
import { api, back, onForm, outcome, requireViewer, sendPage } from './support.js';

const NOTICES = { revoked: 'Agent revoked: its credential no longer works; enroll it again with a new token to bring it back.' };

/** This server's address as the browser reached it: what an agent on the same network is told to use. */
function serverUrl(request: FastifyRequest): string {
  return `${request.protocol}://${request.host}`;
}

/** An enrollment token just made: shown once, with the agent's configuration and the commands to paste on its host. */
function enrollment(made: EnrollmentTokenCreated['enrollmentToken'], server: string): Html {
  const config = JSON.stringify({ server, name: made.name, stateDir: './agent-state', runbooks: {} });
  const commands = [
    `cat > agent.json <<'JSON'`,
    config,
    'JSON',
    `ATLAS_ENROLLMENT_TOKEN=${made.token} atlas-edge-agent enroll --config agent.json`,
    'atlas-edge-agent run --config agent.json',
  ].join('\n');
  return html`<section class="notice" role="status" aria-labelledby="new-enrollment">
    <h2 id="new-enrollment">Enrollment token for “${made.name}”</h2>
    <p>It enrolls one agent, until ${made.expiresAt}, and is shown only now. On the agent's host (add its runbooks to the configuration first):</p>
    <pre id="enroll-command">${commands}</pre>
    <button type="button" data-copy="enroll-command" hidden>Copy the commands</button>
  </section>`;
}

/** Edge agents: online or not, refreshed; admins enroll new ones and revoke them. */
export function agentPages(app: FastifyInstance, site: Site): void {
  const page = async (request: FastifyRequest, viewer: Viewer, made?: EnrollmentTokenCreated['enrollmentToken']) => {
    const res = await api<Agents>(app, request, 'GET', '/api/agents');
    const admin = viewer.role === 'admin';
    return layout(
      site,
      'Edge Agents',
      viewer,
      html`${made ? enrollment(made, serverUrl(request)) : outcome(request.query as Record<string, string>, NOTICES)}
        <p>An agent is online when it has reported in within the last ${res.body.onlineWithinSeconds} s. Reload the page to see the latest.</p>
        <p>
          <label class="check" hidden><input type="checkbox" id="auto-refresh" checked /> Update the table every 5 s</label>
        </p>
        <div data-refresh="5">
          ${table(
            'Edge agents',
            ['Name', 'State', 'Last seen', 'Version', 'Host', 'Labels', 'Runbooks', ...(admin ? [html`<span class="skip">Action</span>`] : [])],
            res.body.agents.map(
              (a) =>
                html`<tr data-agent="${a.name}">
                  <td>${a.name}</td>
                  <td class="${a.online && !a.revoked ? 'online' : 'offline'}">${a.revoked ? 'revoked' : a.online ? 'online' : 'offline'}</td>
                  <td>${ago(a.lastSeenAt)}</td>
                  <td>${a.version ?? ''}</td>
                  <td>${a.hostname ?? ''}</td>
                  <td>${a.labels.join(', ')}</td>
                  <td>${a.runbooks.join(', ')}</td>
                  ${
                    admin
                      ? html`<td>
                          ${
                            a.revoked
                              ? ''
                              : html`<form class="inline" method="post" action="/settings/agents/${a.id}/revoke">
                                  <input type="hidden" name="csrf" value="${viewer.csrf}" /><button type="submit">
                                    Revoke<span class="sr"> ${a.name}</span>
                                  </button>
                                </form>`
                          }
                        </td>`
                      : ''
                  }
                </tr>`,
            ),
          )}
        </div>
        ${res.body.agents.length === 0 ? html`<p>No agents are enrolled yet.</p>` : ''}
        ${
          admin
            ? html`<h2>Enroll an agent</h2>
                <form class="stack" method="post" action="/settings/agents/enrollment">
                  <input type="hidden" name="csrf" value="${viewer.csrf}" />
                  <label>Agent name <input name="name" required maxlength="100" placeholder="edge-1" /></label>
                  <label>Labels (comma-separated, optional) <input name="labels" maxlength="500" placeholder="site:paris, gpu" /></label>
                  <button class="primary" type="submit">Create enrollment token</button>
                </form>`
            : ''
        }`,
    );
  };

  app.get('/settings/agents', async (request, reply) => {
    const viewer = await requireViewer(app, request, reply);
    if (!viewer) return reply;
    return sendPage(reply, await page(request, viewer));
  });

  // Answered with the page itself: the token must not travel in a URL.
  onForm(app, site, '/settings/agents/enrollment', async (request, viewer, reply) => {
    const labels = (request.body.labels ?? '')
      .split(',')
      .map((l) => l.trim())
      .filter(Boolean);
    const res = await api<EnrollmentTokenCreated>(app, request, 'POST', '/api/admin/enrollment-tokens', { name: request.body.name ?? '', labels });
    if (res.status !== 201) return back('/settings/agents', res, '');
    return sendPage(reply, await page(request, viewer, res.body.enrollmentToken), 201);
  });

  onForm<{ id: string }>(app, site, '/settings/agents/:id/revoke', async (request) =>
    back('/settings/agents', await api(app, request, 'DELETE', `/api/admin/agents/${encodeURIComponent(request.params.id)}`), 'revoked'),
  );
}
