import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { CommandError, Executor } from '../../../src/ops/core/exec.js';
import { psqlSessionCommand } from '../../../src/ops/backup/pg-tools.js';
import { SessionPool, type Task } from '../../../src/ops/backup/session-pool.js';
import { sharedPostgres } from '../../support/backends.js';

/** A task that records when it ran (in the database's clock) and takes `seconds`. */
function step(name: string, names: string[] | undefined, seconds: number, sideBySide?: Task['sideBySide']): Task {
  return {
    sql: [
      `INSERT INTO steps VALUES ('${name}', clock_timestamp(), NULL); SELECT pg_sleep(${seconds}); UPDATE steps SET ended = clock_timestamp() WHERE name = '${name}';\n`,
    ],
    names: names && new Set(names),
    sideBySide,
  };
}

/** A pool of two sessions on a new database, and what its steps recorded. */
async function twoSessions(): Promise<{ pool: SessionPool; steps: () => Promise<{ name: string; started: Date; ended: Date }[]> }> {
  const url = await sharedPostgres().createDatabase('pool');
  const database = url.split('/').pop();
  // Made by the role the sessions run as, which owns it.
  const owner = new pg.Client({ connectionString: url });
  await owner.connect();
  await owner.query('CREATE TABLE steps (name text PRIMARY KEY, started timestamptz, ended timestamptz)');
  await owner.end();
  const pool = new SessionPool(new Executor(undefined, []), psqlSessionCommand(url, '64MB'), 2);
  return { pool, steps: async () => (await sharedPostgres().sql('SELECT name, started, ended FROM steps', database)).rows as never };
}

describe('SessionPool', () => {
  it('runs each task once every earlier task on the same objects is done, and the others side by side', async () => {
    const { pool, steps } = await twoSessions();
    pool.add(step('a', ['x'], 0.4));
    pool.add(step('b', ['x'], 0));
    pool.add(step('c', ['y'], 0));
    pool.add(step('d', undefined, 0));
    pool.add(step('e1', ['z'], 0.3, 'index'));
    pool.add(step('e2', ['z'], 0.3, 'index'));
    await pool.finish();
    const at = Object.fromEntries((await steps()).map((r) => [r.name, { started: r.started.getTime(), ended: r.ended.getTime() }]));
    expect(Object.keys(at).sort()).toEqual(['a', 'b', 'c', 'd', 'e1', 'e2']);
    expect(at.b!.started).toBeGreaterThanOrEqual(at.a!.ended); // same object: after
    expect(at.c!.started).toBeLessThan(at.a!.ended); // another object: alongside
    expect(at.d!.started).toBeGreaterThanOrEqual(Math.max(at.a!.ended, at.b!.ended, at.c!.ended)); // touches anything: after all
    expect(at.e1!.started).toBeGreaterThanOrEqual(at.d!.ended);
    expect(at.e2!.started).toBeLessThan(at.e1!.ended); // same kind that may share: side by side
  });

  it('stops at the first failure, with what PostgreSQL said, and runs nothing that waited for it', async () => {
    const { pool, steps } = await twoSessions();
    pool.add({ sql: ['SELECT 1/0;\n'], names: new Set(['x']) });
    pool.add(step('after', ['x'], 0));
    const failed = pool.finish();
    await expect(failed).rejects.toBeInstanceOf(CommandError);
    await expect(failed).rejects.toThrow(/exited with 3: ERROR: {2}division by zero/);
    pool.abort();
    expect(await steps()).toEqual([]);
  });

  it('reports what PostgreSQL said when psql stops while its input is still being written, not the broken pipe', async () => {
    const { pool } = await twoSessions();
    // 16 MB after the failing statement: far more than a pipe holds, so the write waits when psql exits.
    pool.add({ names: undefined, sql: ['SELECT 1/0;\n', ...Array.from({ length: 16 }, () => `-- ${'x'.repeat(1 << 20)}\n`)] });
    const failed = pool.finish();
    await expect(failed).rejects.toThrow(/exited with 3: ERROR: {2}division by zero/);
    pool.abort();
  });
});
