import type { FastifyInstance } from 'fastify';
import { ago, html, text, type Html } from './html.js';
import { errorPage, layout, table, type Site } from './layout.js';
import type { Agents, IncidentAnswer, IncidentDetail, Incidents, Users } from '../../shared/api-shapes.js';
import { api, back, errorText, onForm, outcome, requireViewer, sendPage, type Form } from './support.js';

const NOTICES: Record<string, string> = {
  created: 'Incident created.',
  acknowledged: 'Incident acknowledged.',
  resolved: 'Incident resolved.',
  assigned: 'Assignee changed.',
  commented: 'Comment added.',
  started: 'Runbook queued; its result appears below when the agent reports it.',
};

/** What a timeline event says beyond its kind: the runbook and its status, a note, a comment, a change (people by their email where it is known). */
function eventDetail(e: IncidentDetail['timeline'][number], emails: ReadonlyMap<string, string>): Html {
  const d = e.detail;
  if (d.runbook) return html` (runbook ${text(d.runbook)}${d.status ? html`: ${text(d.status)}` : ''})`;
  if (typeof d.text === 'string') return html`: ${d.text}`;
  if (typeof d.note === 'string') return html`: ${d.note}`;
  if (e.kind !== 'updated') return html``;
  const change = ([k, v]: [string, unknown]) =>
    k === 'assigneeId' ? `assignee ${v === null ? 'nobody' : (emails.get(text(v)) ?? text(v))}` : `${k} ${v === null ? 'none' : text(v)}`;
  return html`: ${Object.entries(d).map(change).join(', ')}`;
}

export function incidentPages(app: FastifyInstance, site: Site): void {
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
      ${table(
        'Incidents',
        ['#', 'Title', 'Severity', 'Status', 'Opened'],
        list.body.incidents.map(
          (i) =>
            html`<tr>
              <td>${i.id}</td>
              <td><a href="/incidents/${i.id}">${i.title}</a></td>
              <td>${i.severity}</td>
              <td>${i.status}</td>
              <td>${ago(i.createdAt)}</td>
            </tr>`,
        ),
      )}
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
                    ${['low', 'medium', 'high', 'critical'].map((s) => html`<option>${s}</option>`)}
                  </select></label
                >
                <label>Description <textarea name="description" rows="3"></textarea></label>
                <button class="primary" type="submit">Open incident</button>
              </form>`
          : ''
      }`;
    return sendPage(reply, layout(site, 'Incidents', viewer, body));
  });

  onForm(app, site, '/incidents', async (request, viewer, reply) => {
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
          site,
          'Incidents',
          viewer,
          html`<p class="alert" role="alert">${errorText(res.body)}</p>
            <p><a href="/incidents">Back</a></p>`,
        ),
        res.status,
      );
    return `/incidents/${res.body.incident.id}?notice=created`;
  });

  app.get<{ Params: { id: string }; Querystring: { notice?: string; error?: string } }>('/incidents/:id', async (request, reply) => {
    const viewer = await requireViewer(app, request, reply);
    if (!viewer) return reply;
    const res = await api<IncidentDetail>(app, request, 'GET', `/api/incidents/${encodeURIComponent(request.params.id)}`);
    if (res.status !== 200) return sendPage(reply, errorPage(site, res.status, errorText(res.body), viewer), res.status);
    const agents = await api<Agents>(app, request, 'GET', '/api/agents');
    // Admins pick anyone; an operator takes it, or gives it up.
    const people = viewer.role === 'admin' ? (await api<Users>(app, request, 'GET', '/api/admin/users')).body.users.filter((u) => !u.disabled) : [];
    const { incident, timeline, executions } = res.body;
    const canAct = viewer.role !== 'viewer' && incident.status !== 'resolved';
    const csrf = html`<input type="hidden" name="csrf" value="${viewer.csrf}" />`;
    const emails = new Map([...people.map((u) => [u.id, u.email] as const), [viewer.id, viewer.email]]);
    if (incident.assignee) emails.set(incident.assignee.id, incident.assignee.email);
    const canTalk = viewer.role !== 'viewer';
    const body = html` ${outcome(request.query, NOTICES)}
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
      ${
        canAct
          ? html`<div class="actions">
              ${
                incident.status === 'open'
                  ? html`<form method="post" action="/incidents/${incident.id}/acknowledge">${csrf}<button type="submit">Acknowledge</button></form>`
                  : ''
              }
              <form class="actions" method="post" action="/incidents/${incident.id}/resolve">
                ${csrf}<label>Resolution note <input name="note" maxlength="2000" /></label><button type="submit">Resolve</button>
              </form>
              <form class="actions" method="post" action="/incidents/${incident.id}/assign">
                ${csrf}
                ${
                  viewer.role === 'admin'
                    ? html`<label
                          >Assignee
                          <select name="assigneeId">
                            <option value="">nobody</option>
                            ${people.map((u) => html`<option value="${u.id}" ${u.id === incident.assignee?.id ? html`selected` : ''}>${u.email}</option>`)}
                          </select></label
                        ><button type="submit">Assign</button>`
                    : html`<input type="hidden" name="assigneeId" value="${incident.assignee?.id === viewer.id ? '' : viewer.id}" /><button type="submit">
                          ${incident.assignee?.id === viewer.id ? 'Unassign me' : 'Assign to me'}
                        </button>`
                }
              </form>
            </div>`
          : ''
      }
      <h2>Timeline</h2>
      <ol id="timeline">
        ${timeline.map((e) => html`<li>${ago(e.at)}: <strong>${e.kind.replace('_', ' ')}</strong> by ${e.actor}${eventDetail(e, emails)}</li>`)}
      </ol>
      ${
        canTalk
          ? html`<form class="stack" method="post" action="/incidents/${incident.id}/comments">
              ${csrf}<label>Comment <textarea name="text" rows="3" required maxlength="10000"></textarea></label><button type="submit">Add comment</button>
            </form>`
          : ''
      }
      <h2>Runbook executions</h2>
      ${
        executions.length
          ? table(
              'Runbook executions',
              ['Runbook', 'Agent', 'Status', 'Exit code', 'Output'],
              executions.map(
                (x) =>
                  html`<tr>
                    <td>${x.runbook}</td>
                    <td>${agents.body.agents.find((a) => a.id === x.agentId)?.name ?? x.agentId}</td>
                    <td>${x.status}</td>
                    <td>${x.exitCode ?? ''}</td>
                    <td><pre>${x.output || x.error || ''}</pre></td>
                  </tr>`,
              ),
            )
          : html`<p>None yet.</p>`
      }
      ${
        canAct
          ? html`<h3>Start a runbook</h3>
              <form class="stack" method="post" action="/incidents/${incident.id}/runbooks">
                <input type="hidden" name="csrf" value="${viewer.csrf}" />
                <label
                  >Runbook, on the agent that offers it
                  <select name="target" required>
                    ${agents.body.agents
                      .filter((a) => !a.revoked && a.runbooks.length)
                      .map(
                        (a) =>
                          html`<optgroup label="${a.name}${a.online ? '' : ' (offline)'}">
                            ${a.runbooks.map((r) => html`<option value="${a.id}/${r}">${r} on ${a.name}</option>`)}
                          </optgroup>`,
                      )}
                  </select></label
                >
                <button class="primary" type="submit">Start</button>
              </form>`
          : ''
      }`;
    return sendPage(reply, layout(site, `Incident #${incident.id}`, viewer, body));
  });

  // Each form, the API call it makes: [its path, the notice, the method, the API path, the body].
  const note = (f: Form) => (f.note?.trim() ? { note: f.note.trim() } : {});
  for (const [path, notice, method, apiPath, toBody] of [
    ['acknowledge', 'acknowledged', 'POST', 'acknowledge', () => ({})],
    ['resolve', 'resolved', 'POST', 'resolve', note],
    ['comments', 'commented', 'POST', 'comments', (f: Form) => ({ text: f.text ?? '' })],
    ['assign', 'assigned', 'PATCH', '', (f: Form) => ({ assigneeId: f.assigneeId || null })],
    // The runbook's agent and name, as one choice: "<agent id>/<runbook>".
    [
      'runbooks',
      'started',
      'POST',
      'runbooks',
      (f: Form) => ({ agentId: f.target?.split('/')[0] ?? '', runbook: f.target?.split('/').slice(1).join('/') ?? '' }),
    ],
  ] as const) {
    onForm<{ id: string }>(app, site, `/incidents/:id/${path}`, async (request) => {
      const id = encodeURIComponent(request.params.id);
      const res = await api(app, request, method, `/api/incidents/${id}${apiPath ? `/${apiPath}` : ''}`, toBody(request.body));
      return back(`/incidents/${id}`, res, notice);
    });
  }
}
