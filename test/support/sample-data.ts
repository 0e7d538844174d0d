import type { Queryable } from '../../src/db/database.js';

/**
 * Fills a migrated Tenant Plane database with realistic-looking working data: agents,
 * incidents with their timelines, runbook executions with their output, webhook deliveries.
 * `scale` 1 is about 1 MB of table data; about 500 gives the 500 MB of the backup benchmark.
 */
export async function fillSampleData(db: Queryable, scale: number): Promise<void> {
  const incidents = Math.max(10, Math.round(scale * 600));
  await db.exec(`
      INSERT INTO users (email, name, role, password_hash)
        SELECT 'user' || g || '@example.com', 'User ' || g, (ARRAY['admin','operator','viewer'])[1 + g % 3], 'scrypt$65536$8$1$x$y'
        FROM generate_series(1, 20) g ON CONFLICT DO NOTHING;
      INSERT INTO agents (name, credential_hash, labels, version, hostname, runbooks, last_seen_at)
        SELECT 'edge-' || g, md5('agent' || g), ARRAY['site-' || (g % 10)], '1.3.0', 'host-' || g || '.corp.example',
               '["restart-nginx","disk-usage","rotate-logs"]', now() - (g || ' seconds')::interval
        FROM generate_series(1, 200) g;
      INSERT INTO incidents (title, description, severity, status, created_at, updated_at)
        SELECT 'Disk usage above ' || (80 + g % 20) || '% on host-' || (g % 200) || '.corp.example',
               'Alert fired by rule disk-usage. Investigation notes: ' || md5(g::text) || '. ' ||
               repeat('Checked the largest directories and rotated logs. ', 1 + g % 4),
               (ARRAY['critical','high','medium','low'])[1 + g % 4], (ARRAY['open','acknowledged','resolved'])[1 + g % 3],
               now() - (g || ' minutes')::interval, now() - (g || ' minutes')::interval
        FROM generate_series(1, ${incidents}) g;
      INSERT INTO incident_events (incident_id, at, actor, kind, detail)
        SELECT 1 + g % ${incidents}, now() - (g || ' seconds')::interval, 'user' || (g % 20) || '@example.com',
               (ARRAY['created','acknowledged','comment','execution_started','execution_finished','resolved'])[1 + g % 6],
               jsonb_build_object('note', 'step ' || g || ' ' || md5(g::text), 'runbook', 'disk-usage')
        FROM generate_series(1, ${incidents * 3}) g;
      INSERT INTO runbook_executions (runbook, agent_id, incident_id, status, exit_code, output, created_at, started_at, finished_at)
        SELECT (ARRAY['restart-nginx','disk-usage','rotate-logs'])[1 + g % 3], a.id, 1 + g % ${incidents},
               (ARRAY['succeeded','failed','timed_out'])[1 + g % 3], g % 3,
               'Filesystem      Size  Used Avail Use% Mounted on' || E'\\n' ||
               '/dev/sda1       100G   ' || (50 + g % 50) || 'G   ' || (50 - g % 50) || 'G  ' || (50 + g % 50) || '% /' || E'\\n' ||
               repeat('rotated /var/log/app/' || md5((g * 7)::text) || '.log' || E'\\n', 1 + g % 6),
               now() - (g || ' seconds')::interval, now() - (g || ' seconds')::interval, now() - (g || ' seconds')::interval
        FROM generate_series(1, ${incidents * 2}) g JOIN agents a ON a.name = 'edge-' || (1 + g % 200);
      INSERT INTO webhooks (name, url, secret, events) VALUES ('pager', 'http://127.0.0.1:9/hook', md5('secret'), ARRAY['incident.created']);
      INSERT INTO webhook_deliveries (webhook_id, event, payload, status, attempts, last_status_code)
        SELECT w.id, 'incident.created', jsonb_build_object('incident', g, 'title', 'Disk usage on host-' || (g % 200)), 'delivered', 1, 200
        FROM generate_series(1, ${incidents}) g CROSS JOIN webhooks w;
      ANALYZE;
    `);
}
