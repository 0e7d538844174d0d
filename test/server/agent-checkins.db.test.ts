import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database, Queryable } from '../../src/db/database.js';
import { loadMigrations, migrate } from '../../src/db/migrations.js';
import { CheckinWriter } from '../../src/server/agent-checkins.js';
import { backends } from '../support/backends.js';

describe.each(backends)('CheckinWriter on $name', (backend) => {
  let db: Database;
  let ids: string[];
  beforeAll(async () => {
    db = await backend.open();
    await migrate(db, loadMigrations(), '1.3.0');
    const rows = await db.query<{ id: string }>(
      `INSERT INTO agents (name, credential_hash, runbooks) SELECT 'edge-' || n, 'hash-' || n, '["disk-usage"]' FROM generate_series(1, 5) AS n RETURNING id`,
    );
    ids = rows.map((r) => r.id);
  });
  afterAll(async () => db.close());

  /** The database, counting the statements sent to it. */
  function counting(fail?: () => boolean): Queryable & { statements: number } {
    const wrapped = {
      statements: 0,
      query: async <R extends Record<string, unknown>>(sql: string, params?: readonly unknown[]) => {
        wrapped.statements++;
        if (fail?.()) throw new Error('the database went away');
        return db.query<R>(sql, params);
      },
      exec: (sql: string) => db.exec(sql),
    };
    return wrapped;
  }

  it('writes the check-ins that arrive together in one statement per batch, each agent once, its facts merged', async () => {
    const target = counting();
    const writer = new CheckinWriter(target);
    await db.query('UPDATE agents SET last_seen_at = NULL');
    const recorded = await Promise.all([
      ...ids.map((id) => writer.record(id, { version: '2.0.0' })),
      writer.record(ids[0]!, { hostname: 'edge-one.example', runbooks: ['restart-nginx'] }),
      writer.record(ids[0]!),
    ]);
    expect(recorded).toEqual(Array(7).fill(true));
    // The first arrives alone (nothing was being written); the rest wait for it, then go together.
    expect(target.statements).toBe(2);
    const rows = await db.query<{ id: string; version: string; hostname: string | null; runbooks: string[]; seen: boolean }>(
      'SELECT id, version, hostname, runbooks, last_seen_at IS NOT NULL AS seen FROM agents ORDER BY name',
    );
    expect(rows.every((r) => r.seen && r.version === '2.0.0')).toBe(true);
    expect(rows.find((r) => r.id === ids[0])).toMatchObject({ hostname: 'edge-one.example', runbooks: ['restart-nginx'] });
    expect(rows.filter((r) => r.id !== ids[0]).every((r) => r.hostname === null && r.runbooks[0] === 'disk-usage')).toBe(true);
  });

  it('says a revoked agent was not written, and leaves it as it was', async () => {
    const writer = new CheckinWriter(db);
    await db.query(`UPDATE agents SET revoked_at = now(), last_seen_at = NULL, version = NULL WHERE id = $1`, [ids[4]]);
    expect(await Promise.all([writer.record(ids[3]!), writer.record(ids[4]!, { version: '9.9.9' })])).toEqual([true, false]);
    const [row] = await db.query<{ version: string | null; last_seen_at: Date | null }>('SELECT version, last_seen_at FROM agents WHERE id = $1', [ids[4]]);
    expect(row).toEqual({ version: null, last_seen_at: null });
  });

  it('a batch that fails fails each of its check-ins; the next batch is written', async () => {
    let failing = true;
    const writer = new CheckinWriter(counting(() => failing));
    await expect(writer.record(ids[1]!)).rejects.toThrow('the database went away');
    failing = false;
    expect(await writer.record(ids[1]!)).toBe(true);
    await writer.settled();
  });
});
