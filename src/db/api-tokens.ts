import type { Queryable, Row } from './database.js';

const COLUMNS = 'id, name, prefix, created_at, last_used_at, revoked_at';

/** API tokens: stored hashed, each its owner's. */
export function apiTokensRepository(q: Queryable) {
  return {
    ofUser: (userId: string) => q.query(`SELECT ${COLUMNS} FROM api_tokens WHERE user_id = $1 ORDER BY created_at DESC`, [userId]),

    async create(t: { userId: string; name: string; tokenHash: string; prefix: string }): Promise<Row | undefined> {
      const [row] = await q.query(`INSERT INTO api_tokens (user_id, name, token_hash, prefix) VALUES ($1, $2, $3, $4) RETURNING ${COLUMNS}`, [
        t.userId,
        t.name,
        t.tokenHash,
        t.prefix,
      ]);
      return row;
    },

    /** Whether the user has such a token (revoking twice keeps the first time). */
    async revoke(id: string, userId: string): Promise<boolean> {
      return (
        (await q.query('UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 AND user_id = $2 RETURNING id', [id, userId])).length > 0
      );
    },

    /** Revokes every live token of the user; returns how many. */
    async revokeAll(userId: string): Promise<number> {
      return (await q.query('UPDATE api_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL RETURNING id', [userId])).length;
    },
  };
}
