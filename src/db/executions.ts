import type { Queryable, Row } from './database.js';

const COLUMNS = 'id, runbook, agent_id, incident_id, status, exit_code, output, output_truncated, error, created_at, started_at, finished_at';

export interface ExecutionResult {
  status: string;
  exitCode: number | null;
  output: string;
  outputTruncated: boolean;
  error: string | null;
}

/** Runbook executions: queued for agents, claimed and reported by them. */
export function executionsRepository(q: Queryable) {
  return {
    /** The enrolled agents that are the one named or carry the label. */
    async targetAgents(agentId: string | null, label: string | null): Promise<string[]> {
      return (await q.query<{ id: string }>('SELECT id FROM agents WHERE revoked_at IS NULL AND (id = $1 OR $2 = ANY(labels))', [agentId, label])).map(
        (a) => a.id,
      );
    },

    queue: (runbook: string, agentIds: string[], incidentId: number | null, requestedBy: string) =>
      q.query(
        `INSERT INTO runbook_executions (runbook, agent_id, incident_id, requested_by)
         SELECT $1, unnest($2::uuid[]), $3, $4 RETURNING ${COLUMNS}`,
        [runbook, agentIds, incidentId, requestedBy],
      ),

    list: (f: { agentId: string | null; incidentId: number | null; status: string | null; limit: number }) =>
      q.query(
        `SELECT ${COLUMNS} FROM runbook_executions
          WHERE ($1::uuid IS NULL OR agent_id = $1) AND ($2::bigint IS NULL OR incident_id = $2) AND ($3::text IS NULL OR status = $3)
          ORDER BY created_at DESC LIMIT $4`,
        [f.agentId, f.incidentId, f.status, f.limit],
      ),

    ofIncident: (incidentId: number) => q.query(`SELECT ${COLUMNS} FROM runbook_executions WHERE incident_id = $1 ORDER BY created_at`, [incidentId]),

    async find(id: string): Promise<Row | undefined> {
      return (await q.query(`SELECT ${COLUMNS} FROM runbook_executions WHERE id = $1`, [id]))[0];
    },

    /** The agent's oldest queued execution, now running; SKIP LOCKED: replicas polling at once never hand one to two claimants. */
    async claim(agentId: string): Promise<Row | undefined> {
      const [row] = await q.query(
        `UPDATE runbook_executions SET status = 'running', started_at = now()
          WHERE id = (SELECT id FROM runbook_executions WHERE agent_id = $1 AND status = 'queued'
                       ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
          RETURNING id, runbook`,
        [agentId],
      );
      return row;
    },

    /** Records the result of a running execution of the agent's; undefined when it has none running by that id. */
    async finish(id: string, agentId: string, r: ExecutionResult): Promise<Row | undefined> {
      const [row] = await q.query(
        `UPDATE runbook_executions SET status = $3, exit_code = $4, output = $5, output_truncated = $6, error = $7, finished_at = now()
          WHERE id = $1 AND agent_id = $2 AND status = 'running' RETURNING ${COLUMNS}`,
        [id, agentId, r.status, r.exitCode, r.output, r.outputTruncated, r.error],
      );
      return row;
    },

    async statusFor(id: string, agentId: string): Promise<string | undefined> {
      return (await q.query<{ status: string }>('SELECT status FROM runbook_executions WHERE id = $1 AND agent_id = $2', [id, agentId]))[0]?.status;
    },
  };
}
