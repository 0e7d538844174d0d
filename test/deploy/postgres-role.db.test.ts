import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appRoot } from '../../src/shared/app-root.js';
import { tempDir } from '../support/temp.js';
import { PostgresServer } from '../support/postgres-server.js';
import { runProcess, tpctl } from '../support/tpctl.js';

/**
 * The Compose file's database: deploy/postgres/10-tenant-plane-role.sh run as the postgres
 * image runs it on first start (over the socket, as the superuser, POSTGRES_* in its
 * environment), on a server of its own, since the script takes the superuser's password away.
 */
describe("the Compose file's PostgreSQL role script", () => {
  let server: PostgresServer;
  const role = 'tenant_plane';
  const password = 'role-script-pw-9';
  let url: string;

  beforeAll(async () => {
    server = await PostgresServer.start();
    await server.sql('CREATE DATABASE atlas');
    const script = path.join(appRoot, 'deploy', 'postgres', '10-tenant-plane-role.sh');
    const env = {
      PATH: `${server.binDir}:${process.env.PATH ?? ''}`,
      PGHOST: server.dir,
      PGPORT: String(server.port),
      POSTGRES_USER: 'postgres',
      POSTGRES_DB: 'atlas',
      ATLAS_DB_USER: role,
      ATLAS_DB_PASSWORD: password,
    };
    const res = await runProcess('sh', [script], env);
    expect(res).toMatchObject({ code: 0, stderr: '' });
    url = `postgresql://${role}:${password}@127.0.0.1:${server.port}/atlas`;
  }, 60_000);
  afterAll(() => server?.destroy());

  it('makes a role that owns the database, may create databases, and is no superuser', async () => {
    const roles = await query(url, `SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = current_user`);
    expect(roles).toEqual([{ rolsuper: false, rolcreatedb: true, rolcreaterole: false }]);
    const owner = await query(url, `SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = 'atlas'`);
    expect(owner).toEqual([{ owner: role }]);
  });

  it("takes the superuser's password away: over TCP it cannot sign in", async () => {
    await expect(query(`postgresql://postgres:x@127.0.0.1:${server.port}/atlas`, 'SELECT 1')).rejects.toThrow(/password authentication failed/);
  });

  it('is enough for the Tenant Plane and tpctl: migrations, a backup, its restore test and a restore', async () => {
    const env = { DB_URL: url, ATLAS_DATA_DIR: tempDir(), ATLAS_LOG_DIR: tempDir() };
    expect(await tpctl(['migrate', 'up'], env)).toMatchObject({ code: 0 });
    const created = await tpctl(['backup', 'create', '--json'], env);
    expect(created).toMatchObject({ code: 0, stderr: '' });
    const file = (JSON.parse(created.stdout) as { file: string }).file;
    const verified = await tpctl(['backup', 'verify', '--restore-test', file], env);
    expect(verified).toMatchObject({ code: 0 });
    expect(verified.stdout).toMatch(/ok {3}restore test: /);
    expect(await tpctl(['restore', file], env)).toMatchObject({ code: 0, stderr: '' });
  });

  it('cannot do what only a superuser may: run a program on the database host, or read its files', async () => {
    await expect(query(url, `COPY (SELECT 1) TO PROGRAM 'true'`)).rejects.toThrow(
      /permission denied|must be superuser|privileges of the "pg_execute_server_program" role/,
    );
    await expect(query(url, `SELECT pg_read_file('/etc/passwd')`)).rejects.toThrow(/permission denied/);
    await expect(query(url, `CREATE ROLE intruder SUPERUSER`)).rejects.toThrow(/permission denied|must be superuser/);
  });
});

async function query(url: string, sql: string): Promise<Record<string, unknown>[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows as Record<string, unknown>[];
  } finally {
    await client.end();
  }
}
