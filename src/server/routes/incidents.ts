import type { FastifyInstance } from 'fastify';
import type { Database, Queryable } from '../../db/database.js';
import { executionsAnswer, incidentAnswer, incidentDetailAnswer, incidentsAnswer, okAnswer } from '../../shared/api-shapes.js';
import { caller } from '../auth/access.js';
import { conflict, notFound } from '../errors.js';
import { recordIncidentEvent } from '../incident-events.js';
import { executionTarget, queueExecutions, toExecution, type ExecutionTarget } from './executions.js';

const SEVERITIES = ['critical', 'high', 'medium', 'low'] as const;
const STATUSES = ['open', 'acknowledged', 'resolved'] as const;

interface IncidentParams {
  id: number;
}
const incidentParams = { type: 'object', required: ['id'], properties: { id: { type: 'integer', minimum: 1, maximum: 9_007_199_254_740_991 } } } as const;

const COLUMNS = `i.id, i.title, i.description, i.severity, i.status, i.assignee_id, a.email AS assignee_email,
  i.created_at, i.updated_at, i.acknowledged_at, i.resolved_at`;
const FROM = 'FROM incidents i LEFT JOIN users a ON a.id = i.assignee_id';

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
  const [row] = await db.query(`SELECT ${COLUMNS} ${FROM} WHERE i.id = $1`, [id]);
  if (!row) throw notFound(`no incident ${id}`);
  return toIncident(row);
}

async function assertUser(db: Queryable, id: string | null | undefined): Promise<void> {
  if (!id) return;
  const [row] = await db.query('SELECT 1 FROM users WHERE id = $1 AND NOT disabled', [id]);
  if (!row) throw notFound(`no enabled user ${id} to assign`);
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
        const [row] = await tx.query<{ id: string }>(
          'INSERT INTO incidents (title, description, severity, assignee_id, created_by) VALUES ($1, $2, $3, $4, $5) RETURNING id',
          [request.body.title.trim(), request.body.description ?? '', request.body.severity, request.body.assigneeId ?? null, user.id],
        );
        await recordIncidentEvent(tx, row!.id, user.email, 'created', { severity: request.body.severity });
        return loadIncident(tx, Number(row!.id));
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
      const rows = await db.query(
        `SELECT ${COLUMNS} ${FROM}
          WHERE ($1::text IS NULL OR i.status = $1) AND ($2::text IS NULL OR i.severity = $2) AND ($3::uuid IS NULL OR i.assignee_id = $3)
            AND ($4::text IS NULL OR i.title ILIKE '%' || replace(replace(replace($4, '\\', '\\\\'), '%', '\\%'), '_', '\\_') || '%')
            AND ($5::bigint IS NULL OR i.id < $5)
          ORDER BY i.id DESC LIMIT $6`,
        [q.status ?? null, q.severity ?? null, q.assigneeId ?? null, q.q ?? null, q.before ?? null, q.limit],
      );
      const incidents = rows.map(toIncident);
      // The next page is `?before=<nextBefore>`; null when this page is the last.
      return { incidents, nextBefore: incidents.length === q.limit ? (incidents.at(-1)?.id ?? null) : null };
    },
  );

  app.get<{ Params: IncidentParams }>('/api/incidents/:id', { schema: { params: incidentParams, response: { 200: incidentDetailAnswer } } }, async (request) => {
    const incident = await loadIncident(db, request.params.id);
    const timeline = await db.query('SELECT id::int AS id, at, actor, kind, detail FROM incident_events WHERE incident_id = $1 ORDER BY at, id', [request.params.id]);
    const executions = await db.query(
      'SELECT id, runbook, agent_id, incident_id, status, exit_code, output, output_truncated, error, created_at, started_at, finished_at FROM runbook_executions WHERE incident_id = $1 ORDER BY created_at',
      [request.params.id],
    );
    return { incident, timeline, executions: executions.map(toExecution) };
  });

  /** Moves an incident to a status it may reach, recording who did it; refuses what makes no sense. */
  async function transition(id: number, to: 'acknowledged' | 'resolved', actor: string, note: string | undefined) {
    return db.transaction(async (tx) => {
      const [current] = await tx.query<{ status: string }>('SELECT status FROM incidents WHERE id = $1 FOR UPDATE', [id]);
      if (!current) throw notFound(`no incident ${id}`);
      if (current.status === to) throw conflict(`incident ${id} is already ${to}`);
      if (current.status === 'resolved') throw conflict(`incident ${id} is resolved; it cannot be ${to} again`);
      await tx.query(
        `UPDATE incidents SET status = $2, updated_at = now(),
                acknowledged_at = CASE WHEN $2 = 'acknowledged' THEN now() ELSE acknowledged_at END,
                resolved_at = CASE WHEN $2 = 'resolved' THEN now() ELSE resolved_at END
          WHERE id = $1`,
        [id, to],
      );
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
          await tx.query(
            `UPDATE incidents SET title = coalesce($2, title), severity = coalesce($3, severity),
                    assignee_id = CASE WHEN $4 THEN $5::uuid ELSE assignee_id END, updated_at = now() WHERE id = $1`,
            [request.params.id, b.title?.trim() ?? null, b.severity ?? null, b.assigneeId !== undefined, b.assigneeId ?? null],
          );
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
      schema: { params: incidentParams, body: { type: 'object', required: ['text'], additionalProperties: false, properties: { text: { type: 'string', minLength: 1, maxLength: 10_000 } } }, response: { 201: okAnswer } },
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
      schema: { params: incidentParams, body: { type: 'object', required: ['runbook'], additionalProperties: false, properties: executionTarget }, response: { 201: executionsAnswer } },
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
