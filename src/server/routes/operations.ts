import type { FastifyInstance } from 'fastify';
import type { Database, Row } from '../../db/database.js';
import { operationsRepository, type ReportedBackup, type ReportedRun } from '../../db/operations.js';
import { settingsRepository } from '../../db/settings.js';
import { backupsAnswer, noContent, operationsAnswer } from '../../shared/api-shapes.js';
import { PROVEN_RESTORE_SETTING } from '../../shared/names.js';
import { caller } from '../auth/access.js';
import { badRequest } from '../errors.js';

/** A run still "running" that tpctl has not reported for this long was stopped (tpctl reports every 15 s). */
export const RUNNING_FRESH_SECONDS = 60;

const version = { type: 'string', minLength: 1, maxLength: 64, pattern: '^[0-9A-Za-z][0-9A-Za-z.+-]*$' } as const;
const line = { type: 'string', maxLength: 4000 } as const;
const when = { type: 'string', format: 'date-time' } as const;
const nullableLine = { type: ['string', 'null'], maxLength: 4000 } as const;
const nullableWhen = { type: ['string', 'null'], format: 'date-time' } as const;

const runInput = {
  type: 'object',
  required: ['id', 'kind', 'from', 'to', 'state', 'actor', 'log', 'startedAt'],
  additionalProperties: false,
  properties: {
    // The run's log time stamp, as its history line says it.
    id: { type: 'string', pattern: '^\\d{8}T\\d{6}$' },
    kind: { type: 'string', enum: ['upgrade', 'rollback'] },
    from: version,
    to: version,
    state: { type: 'string', enum: ['running', 'succeeded', 'failed', 'rolled-back', 'needs-human', 'refused', 'interrupted'] },
    step: { type: ['string', 'null'], maxLength: 100 },
    stepWhat: nullableLine,
    stepStartedAt: nullableWhen,
    actor: { type: 'string', minLength: 1, maxLength: 200 },
    summary: nullableLine,
    figures: { type: 'object', maxProperties: 10, additionalProperties: line },
    log: { type: 'string', minLength: 1, maxLength: 1000 },
    startedAt: when,
    finishedAt: nullableWhen,
  },
} as const;

const backupInput = {
  type: 'object',
  required: ['name', 'version', 'takenAt', 'sizeBytes', 'reason', 'signed', 'verifiedAt'],
  additionalProperties: false,
  properties: {
    name: { type: 'string', maxLength: 200, pattern: '^db-backup-[0-9A-Za-z.+-]+-\\d{8}T\\d{6}(-\\d+)?\\.sql\\.gz$' },
    version,
    takenAt: when,
    sizeBytes: { type: 'integer', minimum: 0 },
    reason: { type: 'string', enum: ['manual', 'pre-upgrade', 'pre-restore', 'rehearsal', 'unknown'] },
    signed: { type: 'boolean' },
    verifiedAt: nullableWhen,
  },
} as const;

/**
 * A time as PostgreSQL takes it: JSON Schema's date-time allows offsets up to ±23:59, which
 * PostgreSQL refuses (±15:59), and the year 0, which it has not; in UTC, from the year 1.
 */
function utc<T extends string | null | undefined>(value: T): T {
  if (typeof value !== 'string') return value;
  const at = new Date(value);
  if (at.getUTCFullYear() < 1) throw badRequest(`${value} is before the year 1`);
  return at.toISOString() as T;
}

function toOperation(r: Row) {
  return {
    id: r.id,
    kind: r.kind,
    from: r.from_version,
    to: r.to_version,
    state: r.state,
    step: r.step,
    stepWhat: r.step_what,
    stepStartedAt: r.step_started_at,
    actor: r.actor,
    summary: r.summary,
    figures: r.figures,
    log: r.log,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    updatedAt: r.updated_at,
    reportedBy: r.reported_by_email,
  };
}

/**
 * What tpctl reports of its runs and backups (with an admin's API token: its history lives on the
 * host that runs it), and what the pages read of them: the runs, the one going on, the backups.
 */
export function operationRoutes(app: FastifyInstance, db: Database): void {
  const operations = operationsRepository(db);

  app.put<{ Body: { operations: ReportedRun[] } }>(
    '/api/admin/operations',
    {
      schema: {
        body: {
          type: 'object',
          required: ['operations'],
          additionalProperties: false,
          properties: { operations: { type: 'array', minItems: 1, maxItems: 100, items: runInput } },
        },
        response: { 204: noContent },
      },
    },
    async (request, reply) => {
      const runs = request.body.operations.map((r) => ({
        ...r,
        startedAt: utc(r.startedAt),
        stepStartedAt: utc(r.stepStartedAt),
        finishedAt: utc(r.finishedAt),
      }));
      await db.transaction((tx) => operationsRepository(tx).upsert(runs, caller(request).id));
      void reply.code(204);
    },
  );

  app.put<{ Body: { backups: ReportedBackup[] } }>(
    '/api/admin/backups',
    {
      schema: {
        body: {
          type: 'object',
          required: ['backups'],
          additionalProperties: false,
          properties: { backups: { type: 'array', maxItems: 1000, items: backupInput } },
        },
        response: { 204: noContent },
      },
    },
    async (request, reply) => {
      const backups = request.body.backups.map((b) => ({ ...b, takenAt: utc(b.takenAt), verifiedAt: utc(b.verifiedAt) }));
      await db.transaction((tx) => operationsRepository(tx).replaceBackups(backups));
      void reply.code(204);
    },
  );

  app.get<{ Querystring: { limit: number } }>(
    '/api/operations',
    {
      schema: {
        querystring: { type: 'object', additionalProperties: false, properties: { limit: { type: 'integer', minimum: 0, maximum: 200, default: 50 } } },
        response: { 200: operationsAnswer },
      },
    },
    async (request) => {
      const [running, recent] = await Promise.all([
        operations.running(RUNNING_FRESH_SECONDS),
        request.query.limit ? operations.recent(request.query.limit) : [],
      ]);
      return { running: running ? toOperation(running) : null, operations: recent.map(toOperation) };
    },
  );

  app.get('/api/backups', { schema: { response: { 200: backupsAnswer } } }, async () => {
    const [rows, proven] = await Promise.all([operations.backups(), settingsRepository(db).find(PROVEN_RESTORE_SETTING)]);
    const p = proven?.value as { backup?: unknown; provenAt?: unknown } | undefined;
    return {
      backups: rows.map((b) => ({
        name: b.name,
        version: b.version,
        takenAt: b.taken_at,
        sizeBytes: Number(b.size_bytes),
        reason: b.reason,
        signed: b.signed,
        verifiedAt: b.verified_at,
        provenAt: p?.backup === b.name && typeof p?.provenAt === 'string' ? p.provenAt : null,
      })),
      reportedAt: rows[0]?.reported_at ?? null,
    };
  });
}
