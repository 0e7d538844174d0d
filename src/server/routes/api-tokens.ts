import type { FastifyInstance } from 'fastify';
import { apiTokensRepository } from '../../db/api-tokens.js';
import type { Database } from '../../db/database.js';
import { noContent, revokedAnswer, tokenCreatedAnswer, tokensAnswer } from '../../shared/api-shapes.js';
import { caller } from '../auth/access.js';
import { hashSecret, newSecret } from '../auth/secrets.js';
import { notFound } from '../errors.js';
import { idParams, type IdParams } from './schemas.js';
import { CREDENTIAL_PREFIXES } from '../../shared/redact.js';

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

/** API tokens for automation: act as their owner, shown once, stored hashed. */
export function apiTokenRoutes(app: FastifyInstance, db: Database): void {
  const tokens = apiTokensRepository(db);
  app.get('/api/tokens', { schema: { response: { 200: tokensAnswer } } }, async (request) => {
    const rows = await tokens.ofUser(caller(request).id);
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
      const token = newSecret(CREDENTIAL_PREFIXES.apiToken);
      const row = await tokens.create({ userId: caller(request).id, name: request.body.name.trim(), tokenHash: hashSecret(token), prefix: token.slice(0, 8) });
      void reply.code(201);
      return { token: { ...toToken(row ?? {}), secret: token }, note: 'the secret is shown only now; store it safely' };
    },
  );

  app.delete<{ Params: IdParams }>('/api/tokens/:id', { schema: { params: idParams, response: { 204: noContent } } }, async (request, reply) => {
    if (!(await tokens.revoke(request.params.id, caller(request).id))) throw notFound(`you have no API token ${request.params.id}`);
    void reply.code(204);
  });

  /** Revokes every token of the caller at once (a token may have leaked, and which one is not known). */
  app.delete('/api/tokens', { schema: { response: { 200: revokedAnswer } } }, async (request) => {
    return { revoked: await tokens.revokeAll(caller(request).id) };
  });
}
