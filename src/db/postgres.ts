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

/** After a lost LISTEN connection, reconnecting waits this long, doubling up to LISTEN_RETRY_MAX_MS. */
const LISTEN_RETRY_MS = 100;
const LISTEN_RETRY_MAX_MS = 5_000;

function listen(url: string, applicationName: string, channel: string, on: Parameters<NonNullable<Database['listen']>>[1]): () => Promise<void> {
  let current: pg.Client | undefined;
  let stopped = false;
  let retry: NodeJS.Timeout | undefined;
  const connect = async (attempt: number): Promise<void> => {
    const client = new pg.Client({ connectionString: url, application_name: applicationName, connectionTimeoutMillis: 5_000 });
    let lost = false;
    const lose = () => {
      if (lost) return;
      lost = true;
      // A connection that was listening starts the waits over; one that never got there waits longer.
      const next = current === client ? 0 : attempt + 1;
      if (current === client) {
        current = undefined;
        on.heard(false);
      }
      client.end().catch(() => {});
      if (!stopped) retry = setTimeout(() => void connect(next), Math.min(LISTEN_RETRY_MS * 2 ** next, LISTEN_RETRY_MAX_MS));
    };
    client.on('error', lose);
    client.on('end', lose);
    client.on('notification', (n) => {
      if (n.channel === channel) on.message(n.payload ?? '');
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${channel}`);
    } catch {
      lose();
      return;
    }
    if (stopped || lost) return void client.end().catch(() => {});
    current = client;
    on.heard(true);
  };
  void connect(0);
  return async () => {
    stopped = true;
    clearTimeout(retry);
    const client = current;
    current = undefined;
    await client?.end();
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
    listen: (channel, on) => listen(url, applicationName, channel, on),
    close: () => pool.end(),
  };
}
