import type { Queryable, Row } from './database.js';

/** What the API shows of a webhook: never its secret. */
const SELECT = `SELECT w.id, w.name, w.url, w.events, w.enabled, w.created_at,
  (SELECT count(*)::int FROM webhook_deliveries d WHERE d.webhook_id = w.id AND d.status = 'pending') AS pending,
  (SELECT count(*)::int FROM webhook_deliveries d WHERE d.webhook_id = w.id AND d.status = 'failed') AS failed,
  (SELECT jsonb_build_object('id', d.id, 'event', d.event, 'status', d.status, 'attempts', d.attempts, 'lastStatusCode', d.last_status_code,
                             'lastError', d.last_error, 'createdAt', d.created_at, 'deliveredAt', d.delivered_at)
     FROM webhook_deliveries d WHERE d.webhook_id = w.id ORDER BY d.id DESC LIMIT 1) AS last_delivery
  FROM webhooks w`;

export interface WebhookChange {
  name: string | null;
  url: string | null;
  events: string[] | null;
  enabled: boolean | null;
}

/** Outgoing webhooks and their deliveries, as admins manage them (the dispatcher, server/webhooks.ts, sends them). */
export function webhooksRepository(q: Queryable) {
  const find = async (id: string): Promise<Row | undefined> => (await q.query(`${SELECT} WHERE w.id = $1`, [id]))[0];
  return {
    find,
    list: () => q.query(`${SELECT} ORDER BY w.name, w.id`),

    async create(w: { name: string; url: string; secret: string; events: string[]; enabled: boolean; createdBy: string }): Promise<Row | undefined> {
      const [row] = await q.query<{ id: string }>(
        'INSERT INTO webhooks (name, url, secret, events, enabled, created_by) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id',
        [w.name, w.url, w.secret, w.events, w.enabled, w.createdBy],
      );
      return row && find(row.id);
    },

    /** The webhook as changed; undefined when there is no such webhook. */
    async update(id: string, c: WebhookChange): Promise<Row | undefined> {
      const rows = await q.query(
        'UPDATE webhooks SET name = coalesce($2, name), url = coalesce($3, url), events = coalesce($4, events), enabled = coalesce($5, enabled) WHERE id = $1 RETURNING id',
        [id, c.name, c.url, c.events, c.enabled],
      );
      return rows.length ? find(id) : undefined;
    },

    async remove(id: string): Promise<boolean> {
      return (await q.query('DELETE FROM webhooks WHERE id = $1 RETURNING id', [id])).length > 0;
    },

    async exists(id: string): Promise<boolean> {
      return (await q.query('SELECT 1 FROM webhooks WHERE id = $1', [id])).length > 0;
    },

    deliveries: (id: string, status: string | null, limit: number) =>
      q.query(
        `SELECT id, event, status, attempts, next_attempt_at, last_status_code, last_error, created_at, delivered_at, payload
           FROM webhook_deliveries WHERE webhook_id = $1 AND ($2::text IS NULL OR status = $2) ORDER BY id DESC LIMIT $3`,
        [id, status, limit],
      ),

    /** A test delivery, not due yet, so that no background dispatcher takes it: the caller sends it. Undefined without such a webhook. */
    async queueTest(id: string, actor: string): Promise<string | undefined> {
      const [delivery] = await q.query<{ id: string }>(
        `INSERT INTO webhook_deliveries (webhook_id, event, payload, next_attempt_at)
         SELECT id, 'test', jsonb_build_object('event', 'test', 'at', now(), 'actor', $2::text, 'webhook', name), now() + interval '1 hour' FROM webhooks WHERE id = $1
         RETURNING id::text AS id`,
        [id, actor],
      );
      return delivery?.id;
    },
  };
}
