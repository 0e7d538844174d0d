import type { FastifyInstance } from 'fastify';
import type { Database } from '../../db/database.js';
import { webhooksRepository } from '../../db/webhooks.js';
import { deliveriesAnswer, noContent, webhookAnswer, webhookCreatedAnswer, webhooksAnswer, webhookTestAnswer } from '../../shared/api-shapes.js';
import { caller } from '../auth/access.js';
import { newSecret } from '../auth/secrets.js';
import { badRequest, notFound } from '../errors.js';
import { checkWebhookUrl, WebhookPolicyError } from '../webhook-policy.js';
import { WEBHOOK_EVENTS } from '../../db/incident-events.js';
import { deliverDue, type WebhookDelivery } from '../webhooks.js';
import { idParams, type IdParams } from './schemas.js';
import { CREDENTIAL_PREFIXES } from '../../shared/redact.js';

const url = { type: 'string', maxLength: 2000, pattern: '^https?://[^\\s]+$' } as const;
const events = {
  type: 'array',
  minItems: 1,
  maxItems: 20,
  uniqueItems: true,
  items: { type: 'string', enum: WEBHOOK_EVENTS.filter((e) => e !== 'test') },
} as const;

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
  const webhooks = webhooksRepository(db);
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
      const secret = newSecret(CREDENTIAL_PREFIXES.webhook);
      const webhook = await webhooks.create({ ...request.body, secret, enabled: request.body.enabled ?? true, createdBy: caller(request).id });
      void reply.code(201);
      return { webhook: toWebhook(webhook ?? {}), secret, note: 'the signing secret is shown only now' };
    },
  );

  app.get('/api/admin/webhooks', { schema: { response: { 200: webhooksAnswer } } }, async () => ({ webhooks: (await webhooks.list()).map(toWebhook) }));

  app.patch<{ Params: IdParams; Body: { name?: string; url?: string; events?: string[]; enabled?: boolean } }>(
    '/api/admin/webhooks/:id',
    {
      schema: {
        params: idParams,
        body: {
          type: 'object',
          additionalProperties: false,
          minProperties: 1,
          properties: { name: { type: 'string', minLength: 1, maxLength: 100 }, url, events, enabled: { type: 'boolean' } },
        },
        response: { 200: webhookAnswer },
      },
    },
    async (request) => {
      const b = request.body;
      if (b.url !== undefined) await allowed(b.url);
      const webhook = await webhooks.update(request.params.id, {
        name: b.name ?? null,
        url: b.url ?? null,
        events: b.events ?? null,
        enabled: b.enabled ?? null,
      });
      if (!webhook) throw notFound(`no webhook ${request.params.id}`);
      return { webhook: toWebhook(webhook) };
    },
  );

  app.delete<{ Params: IdParams }>('/api/admin/webhooks/:id', { schema: { params: idParams, response: { 204: noContent } } }, async (request, reply) => {
    if (!(await webhooks.remove(request.params.id))) throw notFound(`no webhook ${request.params.id}`);
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
          properties: {
            limit: { type: 'integer', minimum: 1, maximum: 200, default: 50 },
            status: { type: 'string', enum: ['pending', 'delivered', 'failed'] },
          },
        },
        response: { 200: deliveriesAnswer },
      },
    },
    async (request) => {
      if (!(await webhooks.exists(request.params.id))) throw notFound(`no webhook ${request.params.id}`);
      const rows = await webhooks.deliveries(request.params.id, request.query.status ?? null, request.query.limit);
      return { deliveries: rows.map(toDelivery) };
    },
  );

  app.post<{ Params: IdParams }>('/api/admin/webhooks/:id/test', { schema: { params: idParams, response: { 200: webhookTestAnswer } } }, async (request) => {
    const delivery = await webhooks.queueTest(request.params.id, caller(request).email);
    if (!delivery) throw notFound(`no webhook ${request.params.id}`);
    // Sent now, so the admin sees the answer; a failure is retried like any delivery.
    const outcome = (await deliverDue(db, settings, delivery)).get(delivery);
    if (!outcome) throw notFound(`no webhook ${request.params.id}`); // deleted meanwhile
    return { deliveryId: Number(delivery), ...outcome };
  });
}
