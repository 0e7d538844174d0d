import type { FastifyInstance } from 'fastify';
import type { Database } from '../../db/database.js';
import { deliveriesAnswer, noContent, webhookAnswer, webhookCreatedAnswer, webhooksAnswer, webhookTestAnswer } from '../../shared/api-shapes.js';
import { caller } from '../auth/access.js';
import { newSecret } from '../auth/secrets.js';
import { badRequest, notFound } from '../errors.js';
import { checkWebhookUrl, WebhookPolicyError } from '../webhook-policy.js';
import { WEBHOOK_EVENTS } from '../incident-events.js';
import { deliverDue, type WebhookDelivery } from '../webhooks.js';
import { idParams, type IdParams } from './schemas.js';

const url = { type: 'string', maxLength: 2000, pattern: '^https?://[^\\s]+$' } as const;
const events = { type: 'array', minItems: 1, maxItems: 20, uniqueItems: true, items: { type: 'string', enum: WEBHOOK_EVENTS.filter((e) => e !== 'test') } } as const;

/** What the API shows of a webhook: never its secret. */
const WEBHOOK_SELECT = `SELECT w.id, w.name, w.url, w.events, w.enabled, w.created_at,
  (SELECT count(*)::int FROM webhook_deliveries d WHERE d.webhook_id = w.id AND d.status = 'pending') AS pending,
  (SELECT count(*)::int FROM webhook_deliveries d WHERE d.webhook_id = w.id AND d.status = 'failed') AS failed,
  (SELECT jsonb_build_object('id', d.id, 'event', d.event, 'status', d.status, 'attempts', d.attempts, 'lastStatusCode', d.last_status_code,
                             'lastError', d.last_error, 'createdAt', d.created_at, 'deliveredAt', d.delivered_at)
     FROM webhook_deliveries d WHERE d.webhook_id = w.id ORDER BY d.id DESC LIMIT 1) AS last_delivery
  FROM webhooks w`;

function toWebhook(row: Record<string, unknown>) {
  return {
    id: row.id,
    name: row.name,
    url: row.url,
    events: row.events,
    enabled: row.enabled,
    createdAt: row.created_at,
    deliveries: { pending: row.pending, failed: row.failed, last: row.last_delivery ?? null },
  };
}

function toDelivery(row: Record<string, unknown>) {
  return {
    id: Number(row.id),
    event: row.event,
    status: row.status,
    attempts: row.attempts,
    nextAttemptAt: row.status === 'pending' ? row.next_attempt_at : null,
    lastStatusCode: row.last_status_code,
    lastError: row.last_error,
    createdAt: row.created_at,
    deliveredAt: row.delivered_at,
    payload: row.payload,
  };
}

/** Outgoing webhooks (admins): incident events, signed, retried, every delivery's status kept. */
export function webhookRoutes(app: FastifyInstance, db: Database, settings: WebhookDelivery): void {
  const allowed = (url: string) =>
    checkWebhookUrl(settings.policy, url).catch((err: unknown) => {
      throw err instanceof WebhookPolicyError ? badRequest(err.message) : err;
    });

  app.post<{ Body: { name: string; url: string; events: string[]; enabled?: boolean } }>(
    '/api/admin/webhooks',
    {
      schema: {
        body: {
          type: 'object',
          required: ['name', 'url', 'events'],
          additionalProperties: false,
          properties: { name: { type: 'string', minLength: 1, maxLength: 100 }, url, events, enabled: { type: 'boolean' } },
        },
        response: { 201: webhookCreatedAnswer },
      },
    },
    async (request, reply) => {
      await allowed(request.body.url);
      const secret = newSecret('whs');
      const [row] = await db.query<{ id: string }>(
        'INSERT INTO webhooks (name, url, secret, events, enabled, created_by) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id',
        [request.body.name, request.body.url, secret, request.body.events, request.body.enabled ?? true, caller(request).id],
      );
      const [webhook] = await db.query(`${WEBHOOK_SELECT} WHERE w.id = $1`, [row!.id]);
      void reply.code(201);
      return { webhook: toWebhook(webhook ?? {}), secret, note: 'the signing secret is shown only now' };
    },
  );

  app.get('/api/admin/webhooks', { schema: { response: { 200: webhooksAnswer } } }, async () => ({ webhooks: (await db.query(`${WEBHOOK_SELECT} ORDER BY w.name, w.id`)).map(toWebhook) }));

  app.patch<{ Params: IdParams; Body: { name?: string; url?: string; events?: string[]; enabled?: boolean } }>(
    '/api/admin/webhooks/:id',
    {
      schema: {
        params: idParams,
        body: { type: 'object', additionalProperties: false, minProperties: 1, properties: { name: { type: 'string', minLength: 1, maxLength: 100 }, url, events, enabled: { type: 'boolean' } } },
        response: { 200: webhookAnswer },
      },
    },
    async (request) => {
      const b = request.body;
      if (b.url !== undefined) await allowed(b.url);
      const rows = await db.query(
        'UPDATE webhooks SET name = coalesce($2, name), url = coalesce($3, url), events = coalesce($4, events), enabled = coalesce($5, enabled) WHERE id = $1 RETURNING id',
        [request.params.id, b.name ?? null, b.url ?? null, b.events ?? null, b.enabled ?? null],
      );
      if (!rows.length) throw notFound(`no webhook ${request.params.id}`);
      const [webhook] = await db.query(`${WEBHOOK_SELECT} WHERE w.id = $1`, [request.params.id]);
      return { webhook: toWebhook(webhook ?? {}) };
    },
  );

  app.delete<{ Params: IdParams }>('/api/admin/webhooks/:id', { schema: { params: idParams, response: { 204: noContent } } }, async (request, reply) => {
    const rows = await db.query('DELETE FROM webhooks WHERE id = $1 RETURNING id', [request.params.id]);
    if (!rows.length) throw notFound(`no webhook ${request.params.id}`);
    void reply.code(204);
  });

  app.get<{ Params: IdParams; Querystring: { limit: number; status?: string } }>(
    '/api/admin/webhooks/:id/deliveries',
    {
      schema: {
        params: idParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { limit: { type: 'integer', minimum: 1, maximum: 200, default: 50 }, status: { type: 'string', enum: ['pending', 'delivered', 'failed'] } },
        },
        response: { 200: deliveriesAnswer },
      },
    },
    async (request) => {
      const [exists] = await db.query('SELECT 1 FROM webhooks WHERE id = $1', [request.params.id]);
      if (!exists) throw notFound(`no webhook ${request.params.id}`);
      const rows = await db.query(
        `SELECT id, event, status, attempts, next_attempt_at, last_status_code, last_error, created_at, delivered_at, payload
           FROM webhook_deliveries WHERE webhook_id = $1 AND ($2::text IS NULL OR status = $2) ORDER BY id DESC LIMIT $3`,
        [request.params.id, request.query.status ?? null, request.query.limit],
      );
      return { deliveries: rows.map(toDelivery) };
    },
  );

  app.post<{ Params: IdParams }>('/api/admin/webhooks/:id/test', { schema: { params: idParams, response: { 200: webhookTestAnswer } } }, async (request) => {
    const [delivery] = await db.query<{ id: string }>(
      // Not due yet, so that no background dispatcher takes it: this request sends it and reports how it went.
      `INSERT INTO webhook_deliveries (webhook_id, event, payload, next_attempt_at)
       SELECT id, 'test', jsonb_build_object('event', 'test', 'at', now(), 'actor', $2::text, 'webhook', name), now() + interval '1 hour' FROM webhooks WHERE id = $1
       RETURNING id::text AS id`,
      [request.params.id, caller(request).email],
    );
    if (!delivery) throw notFound(`no webhook ${request.params.id}`);
    // Sent now, so the admin sees the answer; a failure is retried like any delivery.
    const outcome = (await deliverDue(db, settings, delivery.id)).get(delivery.id);
    if (!outcome) throw notFound(`no webhook ${request.params.id}`); // deleted meanwhile
    return { deliveryId: Number(delivery.id), ...outcome };
  });
}
