import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScratch, dropScratch } from '../../../src/ops/backup/scratch.js';
import { eventually } from '../../support/api-client.js';
import { PostgresServer } from '../../support/postgres-server.js';

/**
 * A scratch database dropped while an autovacuum worker is in it, as a freshly loaded copy often
 * has one, by the Tenant Plane's role, which may not signal the worker. On a server of its own,
 * whose autovacuum launcher looks every second, with a table whose vacuum starts at once and
 * crawls (a cost limit of 1, with 100 ms pauses): the worker is there when the drop comes.
 */
describe('dropping a scratch database an autovacuum worker is in', () => {
  let server: PostgresServer;

  beforeAll(async () => {
    server = await PostgresServer.start();
    await server.sql('ALTER SYSTEM SET autovacuum_naptime = 1');
    await server.sql('SELECT pg_reload_conf()');
  });

  afterAll(() => server?.destroy());

  it('drops it as a role that is not a superuser: the worker is stopped by the server, not signalled by us', async () => {
    const live = await server.createDatabase('live');
    const name = 'atlas_rehearsal_20261206t090000';
    const copy = new pg.Client({ connectionString: await createScratch(live, name) });
    await copy.connect();
    await copy.query('CREATE TABLE rows (id integer)');
    await copy.query(
      'ALTER TABLE rows SET (autovacuum_vacuum_threshold = 0, autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_cost_limit = 1, autovacuum_vacuum_cost_delay = 100)',
    );
    await copy.query('INSERT INTO rows SELECT generate_series(1, 100000)');
    await copy.query('DELETE FROM rows');
    await copy.end();
    const worker = `SELECT 1 FROM pg_stat_activity WHERE datname = '${name}' AND backend_type = 'autovacuum worker'`;
    await eventually('an autovacuum worker in the copy', async () => ((await server.sql(worker)).rowCount ? true : undefined), 60);

    expect(await dropScratch(live, name)).toBe(true);
    expect((await server.sql(`SELECT 1 FROM pg_database WHERE datname = '${name}'`)).rowCount).toBe(0);
  });
});
