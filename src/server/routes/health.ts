import type { FastifyInstance } from 'fastify';
import type { Database } from '../../db/database.js';
import { healthAnswer } from '../../shared/api-shapes.js';
import { readSchemaState, type MigrationFile } from '../../db/migrations.js';

/** The database and the schema are checked this often, on their own schedule; health answers from the last check. */
const CHECK_EVERY_MS = 250;
/** A check that has not answered within this counts as the database being down, so health turns 503 within a second. */
const STALE_AFTER_MS = 1_000;
/** A check gives up after this, so that the next one can start (a database that hangs, not one that refuses). */
const CHECK_TIMEOUT_MS = 2_000;

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

type Checks = Record<'database' | 'schema', Record<string, unknown>>;

async function check(db: Database, migrations: readonly MigrationFile[]): Promise<Checks> {
  const started = performance.now();
  try {
    const state = await withTimeout(readSchemaState(db, migrations), CHECK_TIMEOUT_MS);
    const latencyMs = Math.round((performance.now() - started) * 10) / 10;
    return {
      database: { status: 'ok', kind: db.kind, latencyMs },
      schema: state.canRun
        ? { status: 'ok', applied: state.applied.length, ahead: state.ahead }
        : {
            status: 'error',
            pending: state.pending,
            changed: state.changed.map((c) => c.name),
            breaking: state.breaking.map((b) => b.name),
            ahead: state.ahead,
          },
    };
  } catch (err) {
    return { database: { status: 'error', kind: db.kind, message: (err as Error).message }, schema: { status: 'unknown' } };
  }
}

export interface HealthWatch {
  /** The last check, with its age; a check overdue counts as an error. */
  current(): Checks;
  stop(): Promise<void>;
}

/**
 * Checks the database and the schema every CHECK_EVERY_MS, one check at a time: a probe costs
 * no query, and a flood of probes cannot load the database. Resolves after the first check.
 */
export async function watchHealth(db: Database, migrations: readonly MigrationFile[]): Promise<HealthWatch> {
  let last = { checks: await check(db, migrations), at: performance.now() };
  /** When the check under way started; undefined between checks. */
  let checking: number | undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  const next = () => {
    timer = setTimeout(() => {
      checking = performance.now();
      running = check(db, migrations).then((checks) => {
        last = { checks, at: performance.now() };
        checking = undefined;
        if (!stopped) next();
      });
    }, CHECK_EVERY_MS);
    timer.unref();
  };
  next();
  return {
    current() {
      const now = performance.now();
      const ageMs = Math.round(now - last.at);
      if (ageMs > STALE_AFTER_MS) {
        // Overdue either way; which one it is tells the operator where to look.
        const message =
          checking !== undefined && now - checking > STALE_AFTER_MS
            ? `the database has not answered for ${Math.round(now - checking)} ms`
            : `the last database check is ${ageMs} ms old: this process is too busy to run its checks on time`;
        return { database: { status: 'error', kind: db.kind, message, checkedAgoMs: ageMs }, schema: { status: 'unknown' } };
      }
      return { ...last.checks, database: { ...last.checks.database, checkedAgoMs: ageMs } };
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}

export function healthRoutes(app: FastifyInstance, health: HealthWatch, version: string): void {
  app.get('/api/health', { config: { access: 'public' }, schema: { response: { 200: healthAnswer, 503: healthAnswer } } }, async (_request, reply) => {
    const checks = health.current();
    const ok = Object.values(checks).every((c) => c.status === 'ok');
    void reply.code(ok ? 200 : 503).header('cache-control', 'no-store');
    return { status: ok ? 'ok' : 'error', version, checks };
  });
}
