import pg from 'pg';
import type { Database, Queryable, Row } from './database.js';
import { redactUrl } from '../shared/redact.js';

function queryable(client: pg.Pool | pg.PoolClient): Queryable {
  return {
    async query<R extends Row>(sql: string, params: readonly unknown[] = []) {
      const result = await client.query<R>(sql, params as unknown[]);
      return result.rows;
    },
    async exec(sql: string) {
      await client.query(sql);
    },
  };
}

export function openPostgres(url: string, poolSize: number, applicationName: string): Database {
  const pool = new pg.Pool({
    connectionString: url,
    max: poolSize,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    application_name: applicationName,
  });
  // A server restart breaks idle connections; the pool drops them and the next query reconnects.
  pool.on('error', () => {});

  async function withClient<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await pool.connect();
    let broken: Error | undefined;
    // A connection held between queries (a transaction waiting on other work) that the server
    // ends emits its error on the client, not on a query: kept here, the next query fails instead.
    const lost = (err: Error) => (broken = err);
    client.on('error', lost);
    try {
      return await fn(client);
    } catch (err) {
      broken ??= err as Error;
      throw err;
    } finally {
      client.off('error', lost);
      // A connection that failed mid-way may be in an unknown state: discard it rather than reuse.
      client.release(broken);
    }
  }

  return {
    kind: 'postgres',
    location: redactUrl(url),
    ...queryable(pool),
    transaction: (fn) =>
      withClient(async (client) => {
        await client.query('BEGIN');
        try {
          const result = await fn(queryable(client));
          await client.query('COMMIT');
          return result;
        } catch (err) {
          await client.query('ROLLBACK').catch(() => {});
          throw err;
        }
      }),
    session: (fn) => withClient((client) => fn(queryable(client))),
    close: () => pool.end(),
  };
}
