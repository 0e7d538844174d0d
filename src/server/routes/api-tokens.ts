import type { FastifyInstance } from 'fastify';
import type { Database } from '../../db/database.js';
import { noContent, revokedAnswer, tokenCreatedAnswer, tokensAnswer } from '../../shared/api-shapes.js';
import { caller } from '../auth/access.js';
import { hashSecret, newSecret } from '../auth/secrets.js';
import { notFound } from '../errors.js';
import { idParams, type IdParams } from './schemas.js';

function toToken(row: Record<string, unknown>) {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
    revokedAt: row.revoked_at,
  };
}

const TOKEN_COLUMNS = 'id, name, prefix, created_at, last_used_at, revoked_at';

/** API tokens for automation: act as their owner, shown once, stored hashed. */
export function apiTokenRoutes(app: FastifyInstance, db: Database): void {
  app.get('/api/tokens', { schema: { response: { 200: tokensAnswer } } }, async (request) => {
    const rows = await db.query(`SELECT ${TOKEN_COLUMNS} FROM api_tokens WHERE user_id = $1 ORDER BY created_at DESC`, [
      caller(request).id,
    ]);
    return { tokens: rows.map(toToken) };
  });

  app.post<{ Body: { name: string } }>(
    '/api/tokens',
    {
      schema: {
        body: {
          type: 'object',
          required: ['name'],
          additionalProperties: false,
          properties: { name: { type: 'string', minLength: 1, maxLength: 100, pattern: '\\S' } },
        },
        response: { 201: tokenCreatedAnswer },
      },
    },
    async (request, reply) => {
      const token = newSecret('atp');
      const [row] = await db.query(
        `INSERT INTO api_tokens (user_id, name, token_hash, prefix) VALUES ($1, $2, $3, $4) RETURNING ${TOKEN_COLUMNS}`,
        [caller(request).id, request.body.name.trim(), hashSecret(token), token.slice(0, 8)],
      );
      void reply.code(201);
      return { token: { ...toToken(row ?? {}), secret: token }, note: 'the secret is shown only now; store it safely' };
    },
  );

  app.delete<{ Params: IdParams }>('/api/tokens/:id', { schema: { params: idParams, response: { 204: noContent } } }, async (request, reply) => {
    const rows = await db.query(
      'UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 AND user_id = $2 RETURNING id',
      [request.params.id, caller(request).id],
    );
    if (rows.length === 0) throw notFound(`you have no API token ${request.params.id}`);
    void reply.code(204);
  });

  /** Revokes every token of the caller at once (a token may have leaked, and which one is not known). */
  app.delete('/api/tokens', { schema: { response: { 200: revokedAnswer } } }, async (request) => {
    const rows = await db.query('UPDATE api_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL RETURNING id', [caller(request).id]);
    return { revoked: rows.length };
  });
}
