import type { FastifyInstance } from 'fastify';
import type { Backups, Operations } from '../../shared/api-shapes.js';
import { ago, html } from './html.js';
import { layout, table, type Site } from './layout.js';
import { STATE_WORDS } from './operation-words.js';
import { api, requireViewer, sendPage } from './support.js';

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

/**
 * Settings → Upgrades & backups: the versions, every upgrade and rollback tpctl reported (who ran
 * it, how it ended, the rehearsal's and the bake's figures), and the backups it keeps.
 */
export function upgradePages(app: FastifyInstance, site: Site): void {
  app.get('/settings/upgrades', async (request, reply) => {
    const viewer = await requireViewer(app, request, reply);
    if (!viewer) return reply;
    const [ops, backups] = await Promise.all([
      api<Operations>(app, request, 'GET', '/api/operations?limit=50'),
      api<Backups>(app, request, 'GET', '/api/backups'),
    ]);
    const runs = ops.body.operations;
    const previous = runs.find((r) => r.state === 'succeeded' && r.to === site.version)?.from;
    const body = html`<dl>
        <dt>Running version</dt>
        <dd>${site.version}</dd>
        <dt>Previous version</dt>
        <dd id="previous-version">${previous ?? 'not reported'}</dd>
      </dl>
      <p>
        tpctl reports each upgrade and rollback, and the backups it keeps, when it has a verification identity (<code>ATLAS_VERIFY_TOKEN</code>, an admin's
        <a href="/settings/tokens">API token</a>); its own record is <code>tpctl history</code> on the host that runs it.
      </p>
      <h2>Upgrades and rollbacks</h2>
      ${
        runs.length
          ? table(
              'Upgrades and rollbacks',
              ['When', 'Run', 'Outcome', 'Who', 'What tpctl said'],
              runs.map(
                (r) =>
                  html`<tr data-run="${r.id}">
                    <td>${ago(r.startedAt)}</td>
                    <td>${r.kind} ${r.from} → ${r.to}</td>
                    <td class="${r.state === 'succeeded' ? 'online' : r.state === 'running' ? '' : 'offline'}">${STATE_WORDS[r.state]}</td>
                    <td>${r.actor}${r.reportedBy ? html`<br /><small>reported as ${r.reportedBy}</small>` : ''}</td>
                    <td>
                      ${r.summary ?? ''} ${Object.entries(r.figures).map(([name, figures]) => html`<br /><small>${name}: ${figures}</small>`)}
                      <br /><small>log: <code>${r.log}</code></small>
                    </td>
                  </tr>`,
              ),
            )
          : html`<p>No upgrade or rollback reported yet.</p>`
      }
      <h2>Backups</h2>
      ${
        backups.body.backups.length
          ? table(
              'Backups',
              ['Backup', 'Version', 'Taken', 'Size', 'Why', 'Signed', 'Last proven to restore'],
              backups.body.backups.map(
                (b) =>
                  html`<tr data-backup="${b.name}">
                    <td><code>${b.name}</code></td>
                    <td>${b.version}</td>
                    <td>${ago(b.takenAt)}</td>
                    <td>${mb(b.sizeBytes)}</td>
                    <td>${b.reason}</td>
                    <td>${b.signed ? 'yes' : 'no'}</td>
                    <td>${b.provenAt ? ago(b.provenAt) : 'not since it was taken'}</td>
                  </tr>`,
              ),
            )
          : html`<p>No backups reported yet.</p>`
      }
      ${backups.body.reportedAt ? html`<p>As tpctl reported them ${ago(backups.body.reportedAt)}.</p>` : ''}`;
    return sendPage(reply, layout(site, 'Upgrades & backups', viewer, body));
  });
}
