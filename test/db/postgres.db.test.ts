import { expect, it } from 'vitest';
import { openDatabase } from '../../src/db/open.js';
import { PostgresServer } from '../support/postgres-server.js';

it('a connection held between queries that the server ends fails its next query, and nothing crashes', async () => {
  const server = await PostgresServer.start();
  try {
    const db = await openDatabase({ url: await server.createDatabase('held'), embeddedDir: '' });
    const outcome = db.transaction(async (tx) => {
      await tx.query('SELECT 1');
      // Held, idle, while the server stops: its error arrives on the connection, with no query to take it.
      await server.halt();
      await new Promise((r) => setTimeout(r, 200));
      return tx.query('SELECT 1');
    });
    await expect(outcome).rejects.toThrow(/terminating connection|Connection terminated|not queryable/);
    await server.resume();
    expect(await db.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
    await db.close();
  } finally {
    await server.destroy();
  }
});
