import type { Queryable, Row } from './database.js';

const COLUMNS = `i.id, i.title, i.description, i.severity, i.status, i.assignee_id, a.email AS assignee_email,
  i.created_at, i.updated_at, i.acknowledged_at, i.resolved_at`;
const FROM = 'FROM incidents i LEFT JOIN users a ON a.id = i.assignee_id';

export interface IncidentFilter {
  status: string | null;
  severity: string | null;
  assigneeId: string | null;
  /** Words the title contains (LIKE's wildcards in it are taken literally). */
  q: string | null;
  /** Ids below this one: the next page. */
  before: number | null;
  limit: number;
}

export interface IncidentChange {
  title: string | null;
  severity: string | null;
  /** Whether the assignee changes (to `assigneeId`, null to unassign). */
  reassign: boolean;
  assigneeId: string | null;
}

/** Incidents and their timelines, over the database or a transaction. */
export function incidentsRepository(q: Queryable) {
  return {
    async insert(i: { title: string; description: string; severity: string; assigneeId: string | null; createdBy: string }): Promise<number> {
      const [row] = await q.query<{ id: string }>(
        'INSERT INTO incidents (title, description, severity, assignee_id, created_by) VALUES ($1, $2, $3, $4, $5) RETURNING id',
        [i.title, i.description, i.severity, i.assigneeId, i.createdBy],
      );
      return Number(row!.id);
    },

    async find(id: number): Promise<Row | undefined> {
      return (await q.query(`SELECT ${COLUMNS} ${FROM} WHERE i.id = $1`, [id]))[0];
    },

    list: (f: IncidentFilter) =>
      q.query(
        `SELECT ${COLUMNS} ${FROM}
          WHERE ($1::text IS NULL OR i.status = $1) AND ($2::text IS NULL OR i.severity = $2) AND ($3::uuid IS NULL OR i.assignee_id = $3)
            AND ($4::text IS NULL OR i.title ILIKE '%' || replace(replace(replace($4, '\\', '\\\\'), '%', '\\%'), '_', '\\_') || '%')
            AND ($5::bigint IS NULL OR i.id < $5)
          ORDER BY i.id DESC LIMIT $6`,
        [f.status, f.severity, f.assigneeId, f.q, f.before, f.limit],
      ),

    timeline: (id: number) => q.query('SELECT id::int AS id, at, actor, kind, detail FROM incident_events WHERE incident_id = $1 ORDER BY at, id', [id]),

    /** The incident's status, its row locked until the transaction ends; undefined when there is no such incident. */
    async lockStatus(id: number): Promise<string | undefined> {
      return (await q.query<{ status: string }>('SELECT status FROM incidents WHERE id = $1 FOR UPDATE', [id]))[0]?.status;
    },

    async setStatus(id: number, to: 'acknowledged' | 'resolved'): Promise<void> {
      await q.query(
        `UPDATE incidents SET status = $2, updated_at = now(),
                acknowledged_at = CASE WHEN $2 = 'acknowledged' THEN now() ELSE acknowledged_at END,
                resolved_at = CASE WHEN $2 = 'resolved' THEN now() ELSE resolved_at END
          WHERE id = $1`,
        [id, to],
      );
    },

    async update(id: number, c: IncidentChange): Promise<void> {
      await q.query(
        `UPDATE incidents SET title = coalesce($2, title), severity = coalesce($3, severity),
                assignee_id = CASE WHEN $4 THEN $5::uuid ELSE assignee_id END, updated_at = now() WHERE id = $1`,
        [id, c.title, c.severity, c.reassign, c.assigneeId],
      );
    },

    /** Whether `id` is a user who may be assigned (one that is not disabled). */
    async assignable(userId: string): Promise<boolean> {
      return (await q.query('SELECT 1 FROM users WHERE id = $1 AND NOT disabled', [userId])).length > 0;
    },
  };
}
