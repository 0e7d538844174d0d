import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import type { Database, Queryable } from '../../db/database.js';
import { executionsRepository } from '../../db/executions.js';
import { claimAnswer, executionAnswer, executionsAnswer, noContent, resultAnswer } from '../../shared/api-shapes.js';
import { caller, callingAgent } from '../auth/access.js';
import { badRequest, notFound } from '../errors.js';
import { recordIncidentEvent } from '../../db/incident-events.js';
import { idParams, type IdParams } from './schemas.js';

/** Output kept per execution; the agent bounds what it sends, the server bounds what it keeps. */
export const OUTPUT_LIMIT = 64 * 1024;
const FINAL = ['succeeded', 'failed', 'timed_out', 'refused'] as const;
type Final = (typeof FINAL)[number];

export function toExecution(row: Record<string, unknown>) {
  return {
    id: row.id,
    runbook: row.runbook,
    agentId: row.agent_id,
    incidentId: row.incident_id === null ? null : Number(row.incident_id),
    status: row.status,
    exitCode: row.exit_code,
    output: row.output,
    outputTruncated: row.output_truncated,
    error: row.error,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
  };
}

export const runbookName = { type: 'string', minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$' } as const;
export const executionTarget = {
  runbook: runbookName,
  agentId: { type: 'string', format: 'uuid' },
  label: { type: 'string', minLength: 1, maxLength: 64 },
} as const;

export interface ExecutionTarget {
  runbook: string;
  agentId?: string;
  label?: string;
}

/**
 * Queues a runbook on one agent, or on every live agent with a label (one execution each).
 * The agent decides whether it runs it: only runbooks in its own configuration run.
 */
export async function queueExecutions(
  tx: Queryable,
  target: ExecutionTarget,
  requestedBy: { id: string; email: string },
  incidentId: number | null,
): Promise<Record<string, unknown>[]> {
  if (Boolean(target.agentId) === Boolean(target.label)) throw badRequest('name either agentId (one agent) or label (every agent with that label)');
  const executions = executionsRepository(tx);
  const agents = await executions.targetAgents(target.agentId ?? null, target.label ?? null);
  if (!agents.length) throw notFound(target.agentId ? `no enrolled agent ${target.agentId}` : `no enrolled agent has the label "${target.label}"`);
  const rows = await executions.queue(target.runbook, agents, incidentId, requestedBy.id);
  if (incidentId !== null) {
    for (const row of rows) {
      await recordIncidentEvent(tx, incidentId, requestedBy.email, 'execution_started', { executionId: row.id, runbook: row.runbook, agentId: row.agent_id });
    }
  }
  return rows;
}

interface ResultBody {
  status: Final;
  exitCode?: number | null;
  output?: string;
  outputTruncated?: boolean;
  error?: string;
}

/** Runbook executions: queued by operators, claimed and reported by agents. */
export function executionRoutes(app: FastifyInstance, db: Database, shutdown: AbortSignal): void {
  const executions = executionsRepository(db);
  app.post<{ Body: ExecutionTarget }>(
    '/api/executions',
    {
      config: { access: 'operator' },
      schema: {
        body: { type: 'object', required: ['runbook'], additionalProperties: false, properties: executionTarget },
        response: { 201: executionsAnswer },
      },
    },
    async (request, reply) => {
      const rows = await db.transaction((tx) => queueExecutions(tx, request.body, caller(request), null));
      void reply.code(201);
      return { executions: rows.map(toExecution) };
    },
  );

  app.get<{ Querystring: { agentId?: string; incidentId?: number; status?: string; limit: number } }>(
    '/api/executions',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            agentId: { type: 'string', format: 'uuid' },
            incidentId: { type: 'integer', minimum: 1 },
            status: { type: 'string', enum: ['queued', 'running', ...FINAL] },
            limit: { type: 'integer', minimum: 1, maximum: 200, default: 50 },
          },
        },
        response: { 200: executionsAnswer },
      },
    },
    async (request) => {
      const q = request.query;
      const rows = await executions.list({ agentId: q.agentId ?? null, incidentId: q.incidentId ?? null, status: q.status ?? null, limit: q.limit });
      return { executions: rows.map(toExecution) };
    },
  );

  app.get<{ Params: IdParams }>('/api/executions/:id', { schema: { params: idParams, response: { 200: executionAnswer } } }, async (request) => {
    const row = await executions.find(request.params.id);
    if (!row) throw notFound(`no execution ${request.params.id}`);
    return { execution: toExecution(row) };
  });

  app.post<{ Body: { waitSeconds: number } }>(
    '/api/agent/executions/claim',
    {
      schema: {
        body: { type: 'object', additionalProperties: false, properties: { waitSeconds: { type: 'integer', minimum: 0, maximum: 25, default: 0 } } },
        response: { 200: claimAnswer, 204: noContent },
      },
    },
    async (request, reply) => {
      const agent = callingAgent(request);
      const deadline = Date.now() + request.body.waitSeconds * 1000;
      for (;;) {
        const row = await executions.claim(agent.id);
        if (row) return { execution: { id: row.id, runbook: row.runbook } };
        if (Date.now() >= deadline || shutdown.aborted) break;
        await sleep(250, undefined, { signal: shutdown }).catch(() => {});
      }
      void reply.code(204);
      return undefined;
    },
  );

  app.post<{ Params: IdParams; Body: ResultBody }>(
    '/api/agent/executions/:id/result',
    {
      schema: {
        params: idParams,
        body: {
          type: 'object',
          required: ['status'],
          additionalProperties: false,
          properties: {
            status: { type: 'string', enum: [...FINAL] },
            exitCode: { type: ['integer', 'null'], minimum: -255, maximum: 255 },
            output: { type: 'string', maxLength: 4 * OUTPUT_LIMIT },
            outputTruncated: { type: 'boolean' },
            error: { type: 'string', maxLength: 2000 },
          },
        },
        response: { 200: resultAnswer },
      },
    },
    async (request) => {
      const agent = callingAgent(request);
      const body = request.body;
      const output = body.output ?? '';
      const finished = await db.transaction(async (tx) => {
        const row = await executionsRepository(tx).finish(request.params.id, agent.id, {
          status: body.status,
          exitCode: body.exitCode ?? null,
          output: output.slice(0, OUTPUT_LIMIT),
          outputTruncated: Boolean(body.outputTruncated) || output.length > OUTPUT_LIMIT,
          error: body.error ?? null,
        });
        if (row?.incident_id !== null && row?.incident_id !== undefined) {
          await recordIncidentEvent(tx, row.incident_id as string, agent.name, 'execution_finished', {
            executionId: row.id,
            runbook: row.runbook,
            status: row.status,
            exitCode: row.exit_code,
          });
        }
        return row;
      });
      if (finished) return { acknowledged: true, execution: toExecution(finished) };
      // A result sent again (the first acknowledgement was lost) is acknowledged, not applied twice.
      const existing = await executions.statusFor(request.params.id, agent.id);
      if (!existing) throw notFound(`this agent has no execution ${request.params.id}`);
      if (existing === 'queued') throw badRequest(`execution ${request.params.id} was never claimed by this agent`);
      return { acknowledged: true, duplicate: true };
    },
  );
}
