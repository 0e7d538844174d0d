import type { Queryable, Row } from './database.js';

/** A run of tpctl as it reports it (an upgrade or rollback); absent fields keep what an earlier report said. */
export interface ReportedRun {
  id: string;
  kind: 'upgrade' | 'rollback';
  from: string;
  to: string;
  state: string;
  step?: string | null;
  stepWhat?: string | null;
  stepStartedAt?: string | null;
  actor: string;
  summary?: string | null;
  figures?: Record<string, string>;
  log: string;
  startedAt: string;
  finishedAt?: string | null;
}

export interface ReportedBackup {
  name: string;
  version: string;
  takenAt: string;
  sizeBytes: number;
  reason: string;
  signed: boolean;
  verifiedAt: string | null;
}

const RUN_COLUMNS = `o.id, o.kind, o.from_version, o.to_version, o.state, o.step, o.step_what, o.step_started_at, o.actor, o.summary,
  o.figures, o.log, o.started_at, o.finished_at, o.updated_at, u.email AS reported_by_email`;

/** tpctl's runs and backups, as it reports them (PUT /api/admin/operations, PUT /api/admin/backups). */
export function operationsRepository(q: Queryable) {
  return {
    /**
     * Records runs, each by its id. A run's later report wins; a field a report leaves out (a
     * history line carries no step or figures) keeps what an earlier one said.
     */
    async upsert(runs: ReportedRun[], reportedBy: string): Promise<void> {
      for (const r of runs) {
        await q.query(
          `INSERT INTO operations (id, kind, from_version, to_version, state, step, step_what, step_started_at, actor, summary, figures, log,
                                   started_at, finished_at, reported_by, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, COALESCE($11::jsonb, '{}'), $12, $13, $14, $15, now())
           ON CONFLICT (id) DO UPDATE SET
             state = excluded.state,
             step = COALESCE(excluded.step, operations.step),
             step_what = COALESCE(excluded.step_what, operations.step_what),
             step_started_at = COALESCE(excluded.step_started_at, operations.step_started_at),
             summary = COALESCE(excluded.summary, operations.summary),
             figures = operations.figures || excluded.figures,
             finished_at = COALESCE(excluded.finished_at, operations.finished_at),
             reported_by = excluded.reported_by,
             updated_at = now()`,
          [
            r.id,
            r.kind,
            r.from,
            r.to,
            r.state,
            r.step ?? null,
            r.stepWhat ?? null,
            r.stepStartedAt ?? null,
            r.actor,
            r.summary ?? null,
            r.figures ? JSON.stringify(r.figures) : null,
            r.log,
            r.startedAt,
            r.finishedAt ?? null,
            reportedBy,
          ],
        );
      }
    },

    /** The newest runs first. */
    recent: (limit: number): Promise<Row[]> =>
      q.query(`SELECT ${RUN_COLUMNS} FROM operations o LEFT JOIN users u ON u.id = o.reported_by ORDER BY o.started_at DESC, o.id DESC LIMIT $1`, [limit]),

    /** The run going on now: one still running that tpctl reported within `freshSeconds` (a killed tpctl stops reporting). */
    async running(freshSeconds: number): Promise<Row | undefined> {
      const rows = await q.query(
        `SELECT ${RUN_COLUMNS} FROM operations o LEFT JOIN users u ON u.id = o.reported_by
          WHERE o.state = 'running' AND o.updated_at > now() - $1 * interval '1 second' ORDER BY o.started_at DESC LIMIT 1`,
        [freshSeconds],
      );
      return rows[0];
    },

    /** The backups tpctl keeps now, in place of those it reported before. */
    async replaceBackups(backups: ReportedBackup[]): Promise<void> {
      await q.query('DELETE FROM backups');
      for (const b of backups) {
        await q.query(
          `INSERT INTO backups (name, version, taken_at, size_bytes, reason, signed, verified_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (name) DO NOTHING`,
          [b.name, b.version, b.takenAt, b.sizeBytes, b.reason, b.signed, b.verifiedAt],
        );
      }
    },

    backups: (): Promise<Row[]> =>
      q.query(`SELECT name, version, taken_at, size_bytes, reason, signed, verified_at, reported_at FROM backups ORDER BY taken_at DESC`),
  };
}
