import type { FastifyInstance } from 'fastify';
import type { Database } from '../../db/database.js';
import { agentAnswer, agentsAnswer, checkinAnswer, enrolledAnswer, enrollmentTokenCreatedAnswer, enrollmentTokensAnswer, noContent } from '../../shared/api-shapes.js';
import type { AgentFacts, CheckinWriter } from '../agent-checkins.js';
import { AGENT_NOT_VALID, caller, callingAgent } from '../auth/access.js';
import { hashSecret, newSecret } from '../auth/secrets.js';
import { conflict, HttpError, notFound } from '../errors.js';
import { idParams, type IdParams } from './schemas.js';
import type { Metrics } from '../metrics.js';

/** Advisory lock space for enrolling: one agent per name, however many enroll at once. */
const AGENT_NAME_LOCK = 7_416_003;

const runbookList = {
  type: 'array',
  maxItems: 200,
  items: { type: 'string', minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$' },
} as const;
const labels = { type: 'array', maxItems: 50, items: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[a-z0-9][a-z0-9_.:-]*$' } } as const;
const agentFacts = {
  version: { type: 'string', maxLength: 64 },
  hostname: { type: 'string', maxLength: 255 },
  runbooks: runbookList,
} as const;

function toAgent(row: Record<string, unknown>) {
  return {
    id: row.id,
    name: row.name,
    labels: row.labels,
    version: row.version,
    hostname: row.hostname,
    runbooks: row.runbooks,
    enrolledAt: row.enrolled_at,
    lastSeenAt: row.last_seen_at,
    online: row.online,
    revoked: row.revoked_at !== null,
  };
}

/** SQL: the agent of the row is online (not revoked, seen within `seconds`). */
export const agentOnline = (seconds: number) => `(revoked_at IS NULL AND last_seen_at > now() - ${Number(seconds)} * interval '1 second')`;

/** Enrollment (one-time tokens made by admins), the agents' own routes, and the agents list. */
export function agentRoutes(app: FastifyInstance, db: Database, onlineSeconds: number, metrics: Pick<Metrics, 'agentCheckin'>, checkins: CheckinWriter): void {
  const AGENT_SELECT = `SELECT id, name, labels, version, hostname, runbooks, enrolled_at, last_seen_at, revoked_at,
    ${agentOnline(onlineSeconds)} AS online FROM agents`;

  app.post<{ Body: { name: string; labels?: string[]; ttlSeconds?: number } }>(
    '/api/admin/enrollment-tokens',
    {
      schema: {
        body: {
          type: 'object',
          required: ['name'],
          additionalProperties: false,
          properties: { name: { type: 'string', minLength: 1, maxLength: 100 }, labels, ttlSeconds: { type: 'integer', minimum: 60, maximum: 30 * 86_400 } },
        },
        response: { 201: enrollmentTokenCreatedAnswer },
      },
    },
    async (request, reply) => {
      const token = newSecret('aet');
      const [row] = await db.query(
        `INSERT INTO enrollment_tokens (token_hash, name, labels, created_by, expires_at)
         VALUES ($1, $2, $3, $4, now() + $5 * interval '1 second') RETURNING id, name, labels, expires_at`,
        [hashSecret(token), request.body.name, request.body.labels ?? [], caller(request).id, request.body.ttlSeconds ?? 86_400],
      );
      void reply.code(201);
      return { enrollmentToken: { id: row?.id, name: row?.name, labels: row?.labels, expiresAt: row?.expires_at, token }, note: 'the token is shown only now and enrolls one agent' };
    },
  );

  app.get('/api/admin/enrollment-tokens', { schema: { response: { 200: enrollmentTokensAnswer } } }, async () => {
    const rows = await db.query('SELECT id, name, labels, created_at, expires_at, used_at, revoked_at FROM enrollment_tokens ORDER BY created_at DESC');
    return {
      enrollmentTokens: rows.map((r) => ({ id: r.id, name: r.name, labels: r.labels, createdAt: r.created_at, expiresAt: r.expires_at, usedAt: r.used_at, revokedAt: r.revoked_at })),
    };
  });

  app.delete<{ Params: IdParams }>('/api/admin/enrollment-tokens/:id', { schema: { params: idParams, response: { 204: noContent } } }, async (request, reply) => {
    const rows = await db.query('UPDATE enrollment_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING id', [request.params.id]);
    if (!rows.length) throw notFound(`no enrollment token ${request.params.id}`);
    void reply.code(204);
  });

  app.post<{ Body: AgentFacts & { token: string; name: string } }>(
    '/api/agents/enroll',
    {
      config: { access: 'public' },
      schema: {
        body: {
          type: 'object',
          required: ['token', 'name'],
          additionalProperties: false,
          properties: { token: { type: 'string', maxLength: 100 }, name: { type: 'string', minLength: 1, maxLength: 100 }, ...agentFacts },
        },
        response: { 201: enrolledAnswer },
      },
    },
    async (request, reply) => {
      const credential = newSecret('aga');
      const agent = await db.transaction(async (tx) => {
        // One use: the token is spent in the same statement that checks it.
        const [token] = await tx.query<{ id: string; name: string; labels: string[] }>(
          `UPDATE enrollment_tokens SET used_at = now()
            WHERE token_hash = $1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > now() RETURNING id, name, labels`,
          [hashSecret(request.body.token)],
        );
        if (!token) throw new HttpError(401, 'invalid_enrollment_token', 'this enrollment token is not valid: it was used already, revoked, expired, or never issued; ask an admin for a new one');
        // The admin's token names the agent, not the agent itself; one enrolled agent per name
        // (a throw here rolls back, and the token stays unspent).
        await tx.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [AGENT_NAME_LOCK, token.name]);
        const [taken] = await tx.query('SELECT 1 FROM agents WHERE name = $1 AND revoked_at IS NULL', [token.name]);
        if (taken) throw conflict(`an agent named "${token.name}" is enrolled already: revoke it first (DELETE /api/admin/agents/<id>), or enroll with a token of another name`);
        const [row] = await tx.query(
          `INSERT INTO agents (name, credential_hash, labels, version, hostname, runbooks, enrollment_token_id, last_seen_at)
           VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, now()) RETURNING id, name, labels`,
          [token.name, hashSecret(credential), token.labels, request.body.version ?? null, request.body.hostname ?? null, JSON.stringify(request.body.runbooks ?? []), token.id],
        );
        return row;
      });
      void reply.code(201);
      return { agent: { id: agent?.id, name: agent?.name, labels: agent?.labels }, credential };
    },
  );

  app.post<{ Body: AgentFacts }>(
    '/api/agent/checkin',
    { config: { checksIn: true }, schema: { body: { type: 'object', additionalProperties: false, properties: agentFacts }, response: { 200: checkinAnswer } } },
    async (request) => {
      const agent = callingAgent(request);
      // Revoked since its credential was checked: not written, and refused.
      if (!(await checkins.record(agent.id, request.body))) throw new HttpError(401, 'unauthorized', AGENT_NOT_VALID);
      metrics.agentCheckin();
      return { ok: true, agentId: agent.id };
    },
  );

  app.get<{ Querystring: { label?: string } }>(
    '/api/agents',
    { schema: { querystring: { type: 'object', additionalProperties: false, properties: { label: labels.items } }, response: { 200: agentsAnswer } } },
    async (request) => {
      const rows = await db.query(`${AGENT_SELECT} WHERE ($1::text IS NULL OR $1 = ANY(labels)) ORDER BY name, id`, [request.query.label ?? null]);
      return { agents: rows.map(toAgent), onlineWithinSeconds: onlineSeconds };
    },
  );

  app.get<{ Params: IdParams }>('/api/agents/:id', { schema: { params: idParams, response: { 200: agentAnswer } } }, async (request) => {
    const [row] = await db.query(`${AGENT_SELECT} WHERE id = $1`, [request.params.id]);
    if (!row) throw notFound(`no agent ${request.params.id}`);
    return { agent: toAgent(row) };
  });

  app.delete<{ Params: IdParams }>('/api/admin/agents/:id', { schema: { params: idParams, response: { 204: noContent } } }, async (request, reply) => {
    const rows = await db.query('UPDATE agents SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING id', [request.params.id]);
    if (!rows.length) throw notFound(`no agent ${request.params.id}`);
    void reply.code(204);
  });
}
