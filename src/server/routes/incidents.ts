import type { FastifyInstance } from 'fastify';
import type { Database, Queryable } from '../../db/database.js';
import { executionsRepository } from '../../db/executions.js';
import { incidentsRepository } from '../../db/incidents.js';
import { executionsAnswer, incidentAnswer, incidentDetailAnswer, incidentsAnswer, okAnswer } from '../../shared/api-shapes.js';
import { caller } from '../auth/access.js';
import { conflict, notFound } from '../errors.js';
import { recordIncidentEvent } from '../../db/incident-events.js';
import { executionTarget, queueExecutions, toExecution, type ExecutionTarget } from './executions.js';

const SEVERITIES = ['critical', 'high', 'medium', 'low'] as const;
const STATUSES = ['open', 'acknowledged', 'resolved'] as const;

interface IncidentParams {
  id: number;
}
const incidentParams = { type: 'object', required: ['id'], properties: { id: { type: 'integer', minimum: 1, maximum: 9_007_199_254_740_991 } } } as const;

function toIncident(row: Record<string, unknown>) {
  return {
    id: Number(row.id),
    title: row.title,
    description: row.description,
    severity: row.severity,
    status: row.status,
    assignee: row.assignee_id ? { id: row.assignee_id, email: row.assignee_email } : null,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    acknowledgedAt: row.acknowledged_at,
    resolvedAt: row.resolved_at,
  };
}

async function loadIncident(db: Queryable, id: number) {
  const row = await incidentsRepository(db).find(id);
  if (!row) throw notFound(`no incident ${id}`);
  return toIncident(row);
}

async function assertUser(db: Queryable, id: string | null | undefined): Promise<void> {
  if (id && !(await incidentsRepository(db).assignable(id))) throw notFound(`no enabled user ${id} to assign`);
}

/** Incidents: create, list, read with their timeline, acknowledge, resolve, and runbooks started from them. */
export function incidentRoutes(app: FastifyInstance, db: Database): void {
  app.post<{ Body: { title: string; description?: string; severity: string; assigneeId?: string } }>(
    '/api/incidents',
    {
      config: { access: 'operator' },
      schema: {
        body: {
          type: 'object',
          required: ['title', 'severity'],
          additionalProperties: false,
          properties: {
            title: { type: 'string', minLength: 1, maxLength: 200, pattern: '\\S' },
            description: { type: 'string', maxLength: 20_000 },
            severity: { type: 'string', enum: [...SEVERITIES] },
            assigneeId: { type: 'string', format: 'uuid' },
          },
        },
        response: { 201: incidentAnswer },
      },
    },
    async (request, reply) => {
      const user = caller(request);
      const incident = await db.transaction(async (tx) => {
        await assertUser(tx, request.body.assigneeId);
        const id = await incidentsRepository(tx).insert({
          title: request.body.title.trim(),
          description: request.body.description ?? '',
          severity: request.body.severity,
          assigneeId: request.body.assigneeId ?? null,
          createdBy: user.id,
        });
        await recordIncidentEvent(tx, id, user.email, 'created', { severity: request.body.severity });
        return loadIncident(tx, id);
      });
      void reply.code(201);
      return { incident };
    },
  );

  app.get<{ Querystring: { status?: string; severity?: string; assigneeId?: string; q?: string; limit: number; before?: number } }>(
    '/api/incidents',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            status: { type: 'string', enum: [...STATUSES] },
            severity: { type: 'string', enum: [...SEVERITIES] },
            assigneeId: { type: 'string', format: 'uuid' },
            q: { type: 'string', maxLength: 200 },
            limit: { type: 'integer', minimum: 1, maximum: 200, default: 50 },
            before: { type: 'integer', minimum: 1 },
          },
        },
        response: { 200: incidentsAnswer },
      },
    },
    async (request) => {
      const q = request.query;
      const rows = await incidentsRepository(db).list({
        status: q.status ?? null,
        severity: q.severity ?? null,
        assigneeId: q.assigneeId ?? null,
        q: q.q ?? null,
        before: q.before ?? null,
        limit: q.limit,
      });
      const incidents = rows.map(toIncident);
      // The next page is `?before=<nextBefore>`; null when this page is the last.
      return { incidents, nextBefore: incidents.length === q.limit ? (incidents.at(-1)?.id ?? null) : null };
    },
  );

  app.get<{ Params: IncidentParams }>(
    '/api/incidents/:id',
    { schema: { params: incidentParams, response: { 200: incidentDetailAnswer } } },
    async (request) => {
      const incident = await loadIncident(db, request.params.id);
      const timeline = await incidentsRepository(db).timeline(request.params.id);
      const executions = await executionsRepository(db).ofIncident(request.params.id);
      return { incident, timeline, executions: executions.map(toExecution) };
    },
  );

  /** Moves an incident to a status it may reach, recording who did it; refuses what makes no sense. */
  async function transition(id: number, to: 'acknowledged' | 'resolved', actor: string, note: string | undefined) {
    return db.transaction(async (tx) => {
      const incidents = incidentsRepository(tx);
      const status = await incidents.lockStatus(id);
      if (!status) throw notFound(`no incident ${id}`);
      if (status === to) throw conflict(`incident ${id} is already ${to}`);
      if (status === 'resolved') throw conflict(`incident ${id} is resolved; it cannot be ${to} again`);
      await incidents.setStatus(id, to);
      await recordIncidentEvent(tx, id, actor, to, note ? { note } : {});
      return loadIncident(tx, id);
    });
  }

  const noteBody = { type: 'object', additionalProperties: false, properties: { note: { type: 'string', maxLength: 2000 } } } as const;
  app.post<{ Params: IncidentParams; Body: { note?: string } | undefined }>(
    '/api/incidents/:id/acknowledge',
    { config: { access: 'operator' }, schema: { params: incidentParams, body: noteBody, response: { 200: incidentAnswer } } },
    async (request) => ({ incident: await transition(request.params.id, 'acknowledged', caller(request).email, request.body?.note) }),
  );
  app.post<{ Params: IncidentParams; Body: { note?: string } | undefined }>(
    '/api/incidents/:id/resolve',
    { config: { access: 'operator' }, schema: { params: incidentParams, body: noteBody, response: { 200: incidentAnswer } } },
    async (request) => ({ incident: await transition(request.params.id, 'resolved', caller(request).email, request.body?.note) }),
  );

  app.patch<{ Params: IncidentParams; Body: { title?: string; severity?: string; assigneeId?: string | null } }>(
    '/api/incidents/:id',
    {
      config: { access: 'operator' },
      schema: {
        params: incidentParams,
        body: {
          type: 'object',
          additionalProperties: false,
          minProperties: 1,
          properties: {
            title: { type: 'string', minLength: 1, maxLength: 200, pattern: '\\S' },
            severity: { type: 'string', enum: [...SEVERITIES] },
            assigneeId: { type: ['string', 'null'], format: 'uuid' },
          },
        },
        response: { 200: incidentAnswer },
      },
    },
    async (request) => {
      const user = caller(request);
      const b = request.body;
      return {
        incident: await db.transaction(async (tx) => {
          await loadIncident(tx, request.params.id);
          await assertUser(tx, b.assigneeId);
          await incidentsRepository(tx).update(request.params.id, {
            title: b.title?.trim() ?? null,
            severity: b.severity ?? null,
            reassign: b.assigneeId !== undefined,
            assigneeId: b.assigneeId ?? null,
          });
          await recordIncidentEvent(tx, request.params.id, user.email, 'updated', { ...b });
          return loadIncident(tx, request.params.id);
        }),
      };
    },
  );

  app.post<{ Params: IncidentParams; Body: { text: string } }>(
    '/api/incidents/:id/comments',
    {
      config: { access: 'operator' },
      schema: {
        params: incidentParams,
        body: { type: 'object', required: ['text'], additionalProperties: false, properties: { text: { type: 'string', minLength: 1, maxLength: 10_000 } } },
        response: { 201: okAnswer },
      },
    },
    async (request, reply) => {
      await db.transaction(async (tx) => {
        await loadIncident(tx, request.params.id);
        await recordIncidentEvent(tx, request.params.id, caller(request).email, 'comment', { text: request.body.text });
      });
      void reply.code(201);
      return { ok: true };
    },
  );

  app.post<{ Params: IncidentParams; Body: ExecutionTarget }>(
    '/api/incidents/:id/runbooks',
    {
      config: { access: 'operator' },
      schema: {
        params: incidentParams,
        body: { type: 'object', required: ['runbook'], additionalProperties: false, properties: executionTarget },
        response: { 201: executionsAnswer },
      },
    },
    async (request, reply) => {
      const user = caller(request);
      const rows = await db.transaction(async (tx) => {
        const incident = await loadIncident(tx, request.params.id);
        if (incident.status === 'resolved') throw conflict(`incident ${request.params.id} is resolved`);
        return queueExecutions(tx, request.body, user, request.params.id);
      });
      void reply.code(201);
      return { executions: rows.map(toExecution) };
    },
  );
}
