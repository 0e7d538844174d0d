import type { Queryable, Row } from './database.js';

const SELECT = `SELECT s.key, s.value, s.updated_at, u.email AS updated_by_email
  FROM settings s LEFT JOIN users u ON u.id = s.updated_by`;

/** Key/value configuration and the audit of every change to it. */
export function settingsRepository(q: Queryable) {
  return {
    all: () => q.query(`${SELECT} ORDER BY s.key`),

    async find(key: string): Promise<Row | undefined> {
      return (await q.query(`${SELECT} WHERE s.key = $1`, [key]))[0];
    },

    /** The value, its row locked until the transaction ends; undefined when the key is not set. */
    async lock(key: string): Promise<{ value: unknown } | undefined> {
      return (await q.query<{ value: unknown }>('SELECT value FROM settings WHERE key = $1 FOR UPDATE', [key]))[0];
    },

    async put(key: string, json: string, userId: string): Promise<void> {
      await q.query(
        `INSERT INTO settings (key, value, updated_by) VALUES ($1, $2::jsonb, $3)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_by = excluded.updated_by, updated_at = now()`,
        [key, json, userId],
      );
    },

    async remove(key: string): Promise<void> {
      await q.query('DELETE FROM settings WHERE key = $1', [key]);
    },

    /** Audits a change, when it changed something. */
    async audit(key: string, oldJson: string | null, newJson: string | null, by: { id: string; email: string }): Promise<void> {
      await q.query(
        `INSERT INTO settings_audit (key, old_value, new_value, changed_by, changed_by_email)
         SELECT $1, $2::jsonb, $3::jsonb, $4, $5 WHERE $2::jsonb IS DISTINCT FROM $3::jsonb`,
        [key, oldJson, newJson, by.id, by.email],
      );
    },

    auditTrail: (f: { key: string | null; before: number | null; limit: number }) =>
      q.query(
        `SELECT id::int AS id, key, old_value, new_value, changed_by_email, changed_at FROM settings_audit
          WHERE ($1::text IS NULL OR key = $1) AND ($2::bigint IS NULL OR id < $2)
          ORDER BY id DESC LIMIT $3`,
        [f.key, f.before, f.limit],
      ),
  };
}
