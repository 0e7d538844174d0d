import type { FastifyInstance } from 'fastify';
import type { Database } from '../../db/database.js';
import { settingsRepository } from '../../db/settings.js';
import { noContent, settingAnswer, settingsAnswer, settingsAuditAnswer } from '../../shared/api-shapes.js';
import { caller } from '../auth/access.js';
import type { CachedReads } from '../cached-reads.js';
import { notFound } from '../errors.js';

interface KeyParams {
  key: string;
}

const keyParams = {
  type: 'object',
  required: ['key'],
  properties: { key: { type: 'string', pattern: '^[a-z][a-z0-9_.-]{0,63}$' } },
} as const;

/** A setting's value is any JSON up to this size. */
const MAX_SETTING_BYTES = 16 * 1024;

function toSetting(row: Record<string, unknown>) {
  return { key: row.key, value: row.value, updatedAt: row.updated_at, updatedBy: row.updated_by_email ?? null };
}

/** Key/value configuration: anyone logged in reads it, admins change it, every change is audited. */
export function settingRoutes(app: FastifyInstance, db: Database, cache: CachedReads): void {
  const settings = settingsRepository(db);
  const all = async () => (await cache.lookup('settings', 'all', async () => (await settings.all()).map(toSetting))) ?? [];

  app.get('/api/settings', { schema: { response: { 200: settingsAnswer } } }, async () => ({ settings: await all() }));

  app.get<{ Params: KeyParams }>('/api/settings/:key', { schema: { params: keyParams, response: { 200: settingAnswer } } }, async (request) => {
    const setting = (await all()).find((s) => s.key === request.params.key);
    if (!setting) throw notFound(`no setting "${request.params.key}"`);
    return { setting };
  });

  /** Writes (or with `value` undefined, deletes) a setting and audits it, in one transaction. */
  async function change(key: string, value: unknown, userId: string, email: string): Promise<boolean> {
    return db.transaction(async (tx) => {
      const inTx = settingsRepository(tx);
      const old = await inTx.lock(key);
      const newJson = value === undefined ? null : JSON.stringify(value);
      if (newJson === null) {
        if (!old) return false;
        await inTx.remove(key);
      } else {
        await inTx.put(key, newJson, userId);
      }
      await inTx.audit(key, old ? JSON.stringify(old.value) : null, newJson, { id: userId, email });
      return true;
    });
  }

  app.put<{ Params: KeyParams; Body: { value: unknown } }>(
    '/api/admin/settings/:key',
    {
      bodyLimit: MAX_SETTING_BYTES,
      schema: {
        params: keyParams,
        body: { type: 'object', required: ['value'], additionalProperties: false, properties: { value: {} } },
        response: { 200: settingAnswer },
      },
    },
    async (request) => {
      const user = caller(request);
      await change(request.params.key, request.body.value, user.id, user.email);
      const row = await settings.find(request.params.key);
      return { setting: toSetting(row ?? {}) };
    },
  );

  app.delete<{ Params: KeyParams }>('/api/admin/settings/:key', { schema: { params: keyParams, response: { 204: noContent } } }, async (request, reply) => {
    const user = caller(request);
    if (!(await change(request.params.key, undefined, user.id, user.email))) {
      throw notFound(`no setting "${request.params.key}"`);
    }
    void reply.code(204);
  });

  app.get<{ Querystring: { key?: string; limit: number; before?: number } }>(
    '/api/admin/settings/audit',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            key: keyParams.properties.key,
            limit: { type: 'integer', minimum: 1, maximum: 500, default: 100 },
            before: { type: 'integer', minimum: 1 },
          },
        },
        response: { 200: settingsAuditAnswer },
      },
    },
    async (request) => {
      const { key, limit, before } = request.query;
      const rows = await settings.auditTrail({ key: key ?? null, before: before ?? null, limit });
      const entries = rows.map((r) => ({
        id: r.id,
        key: r.key,
        oldValue: r.old_value,
        newValue: r.new_value,
        changedBy: r.changed_by_email,
        changedAt: r.changed_at,
      }));
      // The next page is `?before=<nextBefore>`; null when this page is the last.
      return { entries, nextBefore: entries.length === limit ? (entries.at(-1)?.id ?? null) : null };
    },
  );
}
