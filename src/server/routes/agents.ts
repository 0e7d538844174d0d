import type { FastifyInstance } from 'fastify';
import { agentsRepository } from '../../db/agents.js';
import type { Database } from '../../db/database.js';
import {
  agentAnswer,
  agentsAnswer,
  checkinAnswer,
  enrolledAnswer,
  enrollmentTokenCreatedAnswer,
  enrollmentTokensAnswer,
  noContent,
} from '../../shared/api-shapes.js';
import type { AgentFacts, CheckinWriter } from '../agent-checkins.js';
import { AGENT_NOT_VALID, caller, callingAgent } from '../auth/access.js';
import { hashSecret, newSecret } from '../auth/secrets.js';
import { conflict, HttpError, notFound } from '../errors.js';
import { idParams, type IdParams } from './schemas.js';
import type { Metrics } from '../metrics.js';
import { CREDENTIAL_PREFIXES } from '../../shared/redact.js';

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

/** Enrollment (one-time tokens made by admins), the agents' own routes, and the agents list. */
export function agentRoutes(app: FastifyInstance, db: Database, onlineSeconds: number, metrics: Pick<Metrics, 'agentCheckin'>, checkins: CheckinWriter): void {
  const agents = agentsRepository(db, onlineSeconds);

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
      const token = newSecret(CREDENTIAL_PREFIXES.enrollment);
      const row = await agents.createEnrollmentToken({
        tokenHash: hashSecret(token),
        name: request.body.name,
        labels: request.body.labels ?? [],
        createdBy: caller(request).id,
        ttlSeconds: request.body.ttlSeconds ?? 86_400,
      });
      void reply.code(201);
      return {
        enrollmentToken: { id: row?.id, name: row?.name, labels: row?.labels, expiresAt: row?.expires_at, token },
        note: 'the token is shown only now and enrolls one agent',
      };
    },
  );

  app.get('/api/admin/enrollment-tokens', { schema: { response: { 200: enrollmentTokensAnswer } } }, async () => {
    const rows = await agents.enrollmentTokens();
    return {
      enrollmentTokens: rows.map((r) => ({
        id: r.id,
        name: r.name,
        labels: r.labels,
        createdAt: r.created_at,
        expiresAt: r.expires_at,
        usedAt: r.used_at,
        revokedAt: r.revoked_at,
      })),
    };
  });

  app.delete<{ Params: IdParams }>(
    '/api/admin/enrollment-tokens/:id',
    { schema: { params: idParams, response: { 204: noContent } } },
    async (request, reply) => {
      if (!(await agents.revokeEnrollmentToken(request.params.id))) throw notFound(`no enrollment token ${request.params.id}`);
      void reply.code(204);
    },
  );

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
      const credential = newSecret(CREDENTIAL_PREFIXES.agent);
      const enrollment = await agents.enroll({
        tokenHash: hashSecret(request.body.token),
        credentialHash: hashSecret(credential),
        version: request.body.version ?? null,
        hostname: request.body.hostname ?? null,
        runbooks: request.body.runbooks ?? [],
      });
      if ('refused' in enrollment) {
        if (enrollment.refused === 'token')
          throw new HttpError(
            401,
            'invalid_enrollment_token',
            'this enrollment token is not valid: it was used already, revoked, expired, or never issued; ask an admin for a new one',
          );
        throw conflict(
          `an agent named "${enrollment.name}" is enrolled already: revoke it first (DELETE /api/admin/agents/<id>), or enroll with a token of another name`,
        );
      }
      const agent = enrollment.enrolled;
      void reply.code(201);
      return { agent: { id: agent.id, name: agent.name, labels: agent.labels }, credential };
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
      const rows = await agents.list(request.query.label);
      return { agents: rows.map(toAgent), onlineWithinSeconds: onlineSeconds };
    },
  );

  app.get<{ Params: IdParams }>('/api/agents/:id', { schema: { params: idParams, response: { 200: agentAnswer } } }, async (request) => {
    const row = await agents.get(request.params.id);
    if (!row) throw notFound(`no agent ${request.params.id}`);
    return { agent: toAgent(row) };
  });

  app.delete<{ Params: IdParams }>('/api/admin/agents/:id', { schema: { params: idParams, response: { 204: noContent } } }, async (request, reply) => {
    if (!(await agents.revoke(request.params.id))) throw notFound(`no agent ${request.params.id}`);
    void reply.code(204);
  });
}
