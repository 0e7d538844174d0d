import type { FastifyInstance } from 'fastify';
import { ago, html, text } from './html.js';
import { layout } from './layout.js';
import type { Agents, IncidentAnswer, IncidentDetail, Incidents } from '../../shared/api-shapes.js';
import { api, checkCsrf, errorText, forbiddenForm, requireViewer, sendPage, type Form } from './support.js';

const NOTICES: Record<string, string> = {
  created: 'Incident created.',
  acknowledged: 'Incident acknowledged.',
  resolved: 'Incident resolved.',
  started: 'Runbook queued; its result appears below when the agent reports it.',
};

export function incidentPages(app: FastifyInstance): void {
  app.get<{ Querystring: { status?: string } }>('/incidents', async (request, reply) => {
    const viewer = await requireViewer(app, request, reply);
    if (!viewer) return reply;
    const status = ['open', 'acknowledged', 'resolved'].includes(request.query.status ?? '') ? request.query.status : undefined;
    const list = await api<Incidents>(app, request, 'GET', `/api/incidents?limit=100${status ? `&status=${status}` : ''}`);
    const body = html` <form method="get" action="/incidents">
        <label
          >Status
          <select name="status">
            <option value="">all</option>
            ${['open', 'acknowledged', 'resolved'].map((s) => html`<option value="${s}" ${s === status ? html`selected` : ''}>${s}</option>`)}
          </select>
        </label>
        <button type="submit">Filter</button>
      </form>
      <table>
        <caption class="skip">
          Incidents
        </caption>
        <thead>
          <tr>
            <th scope="col">#</th>
            <th scope="col">Title</th>
            <th scope="col">Severity</th>
            <th scope="col">Status</th>
            <th scope="col">Opened</th>
          </tr>
        </thead>
        <tbody>
          ${list.body.incidents.map(
            (i) =>
              html`<tr>
                <td>${i.id}</td>
                <td><a href="/incidents/${i.id}">${i.title}</a></td>
                <td>${i.severity}</td>
                <td>${i.status}</td>
                <td>${ago(i.createdAt)}</td>
              </tr>`,
          )}
        </tbody>
      </table>
      ${list.body.incidents.length === 0 ? html`<p>No incidents.</p>` : ''}
      ${
        viewer.role !== 'viewer'
          ? html`<h2>New incident</h2>
              <form class="stack" method="post" action="/incidents">
                <input type="hidden" name="csrf" value="${viewer.csrf}" />
                <label>Title <input name="title" required maxlength="200" /></label>
                <label
                  >Severity
                  <select name="severity">
                    ${['critical', 'high', 'medium', 'low'].map((s) => html`<option>${s}</option>`)}
                  </select></label
                >
                <label>Description <textarea name="description" rows="3"></textarea></label>
                <button class="primary" type="submit">Open incident</button>
              </form>`
          : ''
      }`;
    return sendPage(reply, layout('Incidents', viewer, body));
  });

  app.post<{ Body: Form }>('/incidents', async (request, reply) => {
    const viewer = await requireViewer(app, request, reply);
    if (!viewer) return reply;
    if (!checkCsrf(viewer, request.body)) return forbiddenForm(reply, viewer);
    const f = request.body;
    const res = await api<IncidentAnswer>(app, request, 'POST', '/api/incidents', {
      title: f.title ?? '',
      severity: f.severity ?? '',
      description: f.description ?? '',
    });
    if (res.status !== 201)
      return sendPage(
        reply,
        layout(
          'Incidents',
          viewer,
          html`<p class="alert" role="alert">${errorText(res.body)}</p>
            <p><a href="/incidents">Back</a></p>`,
        ),
        res.status,
      );
    return reply.redirect(`/incidents/${res.body.incident.id}?notice=created`, 303);
  });

  app.get<{ Params: { id: string }; Querystring: { notice?: string; error?: string } }>('/incidents/:id', async (request, reply) => {
    const viewer = await requireViewer(app, request, reply);
    if (!viewer) return reply;
    const res = await api<IncidentDetail>(app, request, 'GET', `/api/incidents/${encodeURIComponent(request.params.id)}`);
    if (res.status !== 200) return sendPage(reply, layout('Incident', viewer, html`<p class="alert" role="alert">${errorText(res.body)}</p>`), res.status);
    const agents = await api<Agents>(app, request, 'GET', '/api/agents');
    const { incident, timeline, executions } = res.body;
    const canAct = viewer.role !== 'viewer' && incident.status !== 'resolved';
    const notice = NOTICES[request.query.notice ?? ''];
    const action = (name: string, label: string) =>
      html` <form class="inline" method="post" action="/incidents/${incident.id}/${name}">
        <input type="hidden" name="csrf" value="${viewer.csrf}" /><button type="submit">${label}</button>
      </form>`;
    const body = html` ${notice ? html`<p class="notice" role="status">${notice}</p>` : ''}
      ${request.query.error ? html`<p class="alert" role="alert">${request.query.error}</p>` : ''}
      <dl>
        <dt>Incident</dt>
        <dd>#${incident.id} ${incident.title}</dd>
        <dt>Severity</dt>
        <dd>${incident.severity}</dd>
        <dt>Status</dt>
        <dd id="incident-status">${incident.status}</dd>
        <dt>Assignee</dt>
        <dd>${incident.assignee?.email ?? 'nobody'}</dd>
        <dt>Opened</dt>
        <dd>${ago(incident.createdAt)}</dd>
      </dl>
      ${incident.description ? html`<pre>${incident.description}</pre>` : ''}
      ${canAct ? html`<p>${incident.status === 'open' ? action('acknowledge', 'Acknowledge') : ''} ${action('resolve', 'Resolve')}</p>` : ''}
      <h2>Timeline</h2>
      <ol>
        ${timeline.map((e) => html`<li>${ago(e.at)}: <strong>${e.kind.replace('_', ' ')}</strong> by ${e.actor}${e.detail.runbook ? html` (runbook ${text(e.detail.runbook)}${e.detail.status ? html`: ${text(e.detail.status)}` : ''})` : ''}${e.detail.note ? html`: ${text(e.detail.note)}` : ''}</li>`)}
      </ol>
      <h2>Runbook executions</h2>
      ${
        executions.length
          ? html`<table>
              <thead>
                <tr>
                  <th scope="col">Runbook</th>
                  <th scope="col">Agent</th>
                  <th scope="col">Status</th>
                  <th scope="col">Exit code</th>
                  <th scope="col">Output</th>
                </tr>
              </thead>
              <tbody>
                ${executions.map(
                  (x) =>
                    html`<tr>
                      <td>${x.runbook}</td>
                      <td>${agents.body.agents.find((a) => a.id === x.agentId)?.name ?? x.agentId}</td>
                      <td>${x.status}</td>
                      <td>${x.exitCode ?? ''}</td>
                      <td><pre>${x.output || x.error || ''}</pre></td>
                    </tr>`,
                )}
              </tbody>
            </table>`
          : html`<p>None yet.</p>`
      }
      ${
        canAct
          ? html`<h3>Start a runbook</h3>
              <form class="stack" method="post" action="/incidents/${incident.id}/runbooks">
                <input type="hidden" name="csrf" value="${viewer.csrf}" />
                <label
                  >Agent
                  <select name="agentId" required>
                    ${agents.body.agents.map((a) => html`<option value="${a.id}">${a.name}${a.online ? '' : ' (offline)'}</option>`)}
                  </select></label
                >
                <label>Runbook <input name="runbook" required maxlength="100" list="runbooks" /></label>
                <datalist id="runbooks">
                  ${[...new Set(agents.body.agents.flatMap((a) => a.runbooks))].map((r) => html`<option value="${r}"></option>`)}
                </datalist>
                <button class="primary" type="submit">Start</button>
              </form>`
          : ''
      }`;
    return sendPage(reply, layout(`Incident #${incident.id}`, viewer, body));
  });

  for (const [path, notice, toBody] of [
    ['acknowledge', 'acknowledged', () => ({})],
    ['resolve', 'resolved', () => ({})],
    ['runbooks', 'started', (f: Form) => ({ runbook: f.runbook ?? '', agentId: f.agentId ?? '' })],
  ] as const) {
    app.post<{ Params: { id: string }; Body: Form }>(`/incidents/:id/${path}`, async (request, reply) => {
      const viewer = await requireViewer(app, request, reply);
      if (!viewer) return reply;
      if (!checkCsrf(viewer, request.body)) return forbiddenForm(reply, viewer);
      const id = encodeURIComponent(request.params.id);
      const res = await api(app, request, 'POST', `/api/incidents/${id}/${path}`, toBody(request.body));
      const ok = res.status === 200 || res.status === 201;
      return reply.redirect(`/incidents/${id}?${ok ? `notice=${notice}` : `error=${encodeURIComponent(errorText(res.body))}`}`, 303);
    });
  }
}
