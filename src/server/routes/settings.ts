import type { FastifyInstance } from 'fastify';
import type { Database } from '../../db/database.js';
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

const SETTING_SELECT = `SELECT s.key, s.value, s.updated_at, u.email AS updated_by_email
  FROM settings s LEFT JOIN users u ON u.id = s.updated_by`;

/** Key/value configuration: anyone logged in reads it, admins change it, every change is audited. */
export function settingRoutes(app: FastifyInstance, db: Database, cache: CachedReads): void {
  const all = async () => (await cache.lookup('settings', 'all', async () => (await db.query(`${SETTING_SELECT} ORDER BY s.key`)).map(toSetting))) ?? [];

  app.get('/api/settings', { schema: { response: { 200: settingsAnswer } } }, async () => ({ settings: await all() }));

  app.get<{ Params: KeyParams }>('/api/settings/:key', { schema: { params: keyParams, response: { 200: settingAnswer } } }, async (request) => {
    const setting = (await all()).find((s) => s.key === request.params.key);
    if (!setting) throw notFound(`no setting "${request.params.key}"`);
    return { setting };
  });

  /** Writes (or with `value` undefined, deletes) a setting and audits it, in one transaction. */
  async function change(key: string, value: unknown, userId: string, email: string): Promise<boolean> {
    return db.transaction(async (tx) => {
      const [old] = await tx.query<{ value: unknown }>('SELECT value FROM settings WHERE key = $1 FOR UPDATE', [key]);
      const newJson = value === undefined ? null : JSON.stringify(value);
      if (value === undefined) {
        if (!old) return false;
        await tx.query('DELETE FROM settings WHERE key = $1', [key]);
      } else {
        await tx.query(
          `INSERT INTO settings (key, value, updated_by) VALUES ($1, $2::jsonb, $3)
           ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_by = excluded.updated_by, updated_at = now()`,
          [key, newJson, userId],
        );
      }
      await tx.query(
        `INSERT INTO settings_audit (key, old_value, new_value, changed_by, changed_by_email)
         SELECT $1, $2::jsonb, $3::jsonb, $4, $5 WHERE $2::jsonb IS DISTINCT FROM $3::jsonb`,
        [key, old ? JSON.stringify(old.value) : null, newJson, userId, email],
      );
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
      const [row] = await db.query(`${SETTING_SELECT} WHERE s.key = $1`, [request.params.key]);
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
      const rows = await db.query(
        `SELECT id::int AS id, key, old_value, new_value, changed_by_email, changed_at FROM settings_audit
          WHERE ($1::text IS NULL OR key = $1) AND ($2::bigint IS NULL OR id < $2)
          ORDER BY id DESC LIMIT $3`,
        [key ?? null, before ?? null, limit],
      );
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
