import type { FastifyInstance } from 'fastify';
import type { Database } from '../../db/database.js';
import { healthAnswer } from '../../shared/api-shapes.js';
import { readSchemaState, type MigrationFile } from '../../db/migrations.js';

/** A database that does not answer within this is reported down, so health itself stays fast. */
const DB_TIMEOUT_MS = 2_000;

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export function healthRoutes(app: FastifyInstance, db: Database, version: string, migrations: readonly MigrationFile[]): void {
  app.get('/api/health', { config: { access: 'public' }, schema: { response: { 200: healthAnswer, 503: healthAnswer } } }, async (_request, reply) => {
    const started = performance.now();
    let checks: Record<string, Record<string, unknown>>;
    try {
      const state = await withTimeout(readSchemaState(db, migrations), DB_TIMEOUT_MS);
      const latencyMs = Math.round((performance.now() - started) * 10) / 10;
      checks = {
        database: { status: 'ok', kind: db.kind, latencyMs },
        schema: state.canRun
          ? { status: 'ok', applied: state.applied.length, ahead: state.ahead }
          : { status: 'error', pending: state.pending, changed: state.changed.map((c) => c.name), breaking: state.breaking.map((b) => b.name), ahead: state.ahead },
      };
    } catch (err) {
      checks = {
        database: { status: 'error', kind: db.kind, message: (err as Error).message },
        schema: { status: 'unknown' },
      };
    }
    const ok = Object.values(checks).every((c) => c.status === 'ok');
    void reply.code(ok ? 200 : 503).header('cache-control', 'no-store');
    return { status: ok ? 'ok' : 'error', version, checks };
  });
}
