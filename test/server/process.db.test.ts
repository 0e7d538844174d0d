import { createServer, type AddressInfo } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEmbedded } from '../../src/db/embedded.js';
import { loadMigrations } from '../../src/db/migrations.js';
import { CREATE_FIRST_ADMIN } from '../../src/db/users.js';
import { sharedPostgres } from '../support/backends.js';
import { tempDir } from '../support/temp.js';
import { PG_PASSWORD, PG_SUPERUSER, PostgresServer } from '../support/postgres-server.js';
import { eventually } from '../support/api-client.js';
import { makeRelease } from '../support/release.js';
import { spawnServer, startServer, type ServerProcess } from '../support/server-process.js';

const ADMIN = { ATLAS_ADMIN_EMAIL: 'admin@example.com', ATLAS_ADMIN_PASSWORD: 'admin-password-0451' };
const running: ServerProcess[] = [];

async function start(env: Record<string, string>, releaseDir?: string) {
  const server = await startServer(env, releaseDir);
  running.push(server);
  return server;
}

/** Logs in as the first admin; returns the session cookie. */
async function login(url: string): Promise<string> {
  const res = await fetch(`${url}/api/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: ADMIN.ATLAS_ADMIN_EMAIL, password: ADMIN.ATLAS_ADMIN_PASSWORD }),
  });
  expect(res.status).toBe(200);
  return res.headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .join('; ');
}

async function health(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${url}/api/health`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

afterAll(async () => {
  for (const server of running) server.child.kill('SIGKILL');
  // Every process run here was given the database and admin passwords: none may have logged them.
  for (const server of running) {
    expect(server.output()).not.toContain(PG_PASSWORD);
    expect(server.output()).not.toContain(ADMIN.ATLAS_ADMIN_PASSWORD);
  }
});

describe('health follows the database', () => {
  let db: PostgresServer;
  beforeAll(async () => {
    db = await PostgresServer.start();
  });
  afterAll(async () => db.destroy());

  it('turns 503 when PostgreSQL goes away and back to ok when it returns', async () => {
    const url = await db.createDatabase();
    const server = await start({ DB_URL: url });
    expect(await health(server.url)).toMatchObject({
      status: 200,
      body: { status: 'ok', version: '1.3.0', checks: { database: { status: 'ok' }, schema: { status: 'ok' } } },
    });
    await db.halt();
    // Health answers from a check that runs every 250 ms: it turns within a second.
    const halted = performance.now();
    let down = await health(server.url);
    while (down.status === 200 && performance.now() - halted < 1_000) down = await health(server.url);
    expect(down).toMatchObject({ status: 503, body: { status: 'error', version: '1.3.0', checks: { database: { status: 'error' } } } });
    expect(performance.now() - halted).toBeLessThan(1_000);
    await db.resume();
    const back = await eventually('health ok again', async () => {
      const h = await health(server.url).catch(() => undefined);
      return h?.status === 200 ? h : undefined;
    });
    expect(back.body.status).toBe('ok');
    expect(server.child.exitCode).toBeNull();
  });
});

describe('start-up', () => {
  it('warns when its database role is a superuser, naming it, and not when it is the role the Compose file makes', async () => {
    const url = await sharedPostgres().createDatabase();
    const superuser = new URL(url);
    superuser.username = PG_SUPERUSER;
    const warnings = async (dbUrl: string) => (await start({ DB_URL: dbUrl })).logs.filter((l) => /superuser/.test(String(l.msg)));
    expect(await warnings(url)).toEqual([]);
    expect(await warnings(superuser.toString())).toEqual([
      expect.objectContaining({
        level: 40,
        role: PG_SUPERUSER,
        msg: 'the database role is a superuser: give the Tenant Plane a role that owns its database and is not one (docs/security/threat-model.md)',
      }),
    ]);
  });

  it('three processes started at once on an empty database migrate it exactly once', async () => {
    const url = await sharedPostgres().createDatabase();
    const servers = await Promise.all([1, 2, 3].map(() => start({ DB_URL: url, ...ADMIN })));
    const applied = servers.map((s) => (s.logs.find((l) => l.msg === 'schema ready')?.applied as string[]).length);
    const shipped = loadMigrations().length;
    expect(applied.sort()).toEqual([0, 0, shipped]);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const rows = await client.query<{ name: string; n: number }>('SELECT name, count(*)::int AS n FROM schema_migrations GROUP BY name');
    const admins = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM users WHERE role = 'admin'`);
    await client.end();
    expect(rows.rows).toHaveLength(shipped);
    expect(rows.rows.every((r) => r.n === 1)).toBe(true);
    expect(admins.rows[0]?.n).toBe(1);
    for (const s of servers) expect((await health(s.url)).status).toBe(200);

    // Sessions live in the database: one replica's login works on the others (no sticky sessions).
    const cookie = await login(servers[0]!.url);
    for (const s of servers) expect((await fetch(`${s.url}/api/me`, { headers: { cookie } })).status).toBe(200);
  });

  it('a rolling update: the old and the new version serve side by side on the new (additive) schema, sharing sessions', async () => {
    const url = await sharedPostgres().createDatabase();
    const old = await start({ DB_URL: url, ...ADMIN });
    const newer = await start(
      { DB_URL: url },
      makeRelease({ version: '1.4.0', migrations: { '0900_user_nickname.sql': 'ALTER TABLE users ADD COLUMN nickname text;' } }),
    );
    // Health answers from its last periodic check, so the old server sees the new migration on its
    // next one: waited for (an answer while a loaded machine delays the check says "stale", not ok).
    const oldHealth = await eventually('the old server to report the migration ahead of it, healthy', async () => {
      const h = await health(old.url);
      const body = h.body as { status?: string; checks?: { schema?: { ahead?: string[] } } };
      return body.status === 'ok' && body.checks?.schema?.ahead?.length ? h : undefined;
    });
    expect(oldHealth.body).toMatchObject({ status: 'ok', checks: { schema: { ahead: ['0900_user_nickname.sql'] } } });
    const newerHealth = await eventually('the new server healthy', async () => {
      const h = await health(newer.url);
      return h.body.status === 'ok' ? h : undefined;
    });
    expect(newerHealth.body).toMatchObject({ status: 'ok', version: '1.4.0' });
    for (const [from, to] of [
      [old, newer],
      [newer, old],
    ]) {
      const cookie = await login(from!.url);
      const me = await fetch(`${to!.url}/api/me`, { headers: { cookie } });
      expect(me.status).toBe(200);
      expect(((await me.json()) as { user: { email: string } }).user.email).toBe(ADMIN.ATLAS_ADMIN_EMAIL);
    }
  });

  it('serves on a schema ahead of it (as after a rollback) and reports it in health', async () => {
    const url = await sharedPostgres().createDatabase();
    const newer = makeRelease({ version: '1.4.0', migrations: { '0900_user_nickname.sql': 'ALTER TABLE users ADD COLUMN nickname text;' } });
    const upgraded = await start({ DB_URL: url }, newer);
    expect((await health(upgraded.url)).body.version).toBe('1.4.0');
    upgraded.child.kill('SIGTERM');
    await upgraded.exited;

    const current = await start({ DB_URL: url, ...ADMIN });
    const h = await health(current.url);
    expect(h).toMatchObject({ status: 200, body: { status: 'ok', version: '1.3.0', checks: { schema: { status: 'ok', ahead: ['0900_user_nickname.sql'] } } } });
    expect(current.logs.some((l) => l.level === 40 && /schema is ahead/.test(String(l.msg)))).toBe(true);
    const login = await fetch(`${current.url}/api/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: ADMIN.ATLAS_ADMIN_EMAIL, password: ADMIN.ATLAS_ADMIN_PASSWORD }),
    });
    expect(login.status).toBe(200);
  });

  it('refuses to start when an applied migration was edited, saying which and what to do', async () => {
    const url = await sharedPostgres().createDatabase();
    const first = await start({ DB_URL: url });
    first.child.kill('SIGTERM');
    await first.exited;
    const [original] = loadMigrations();
    const edited = makeRelease({ version: '1.3.1', migrations: { [original!.name]: `${original!.sql}\nCREATE TABLE sneaky (id int);\n` } });
    const server = spawnServer({ DB_URL: url }, edited);
    running.push(server);
    expect(await server.exited).toBe(1);
    expect(server.output()).toContain(`applied migration ${original!.name} changed since they were applied`);
    expect(server.output()).toContain('put the change in a new migration');
  });

  it('refuses a second process on the same embedded database instead of corrupting it', async () => {
    const dataDir = tempDir();
    const first = await start({ ATLAS_DATA_DIR: dataDir });
    expect((await health(first.url)).body).toMatchObject({ status: 'ok', checks: { database: { kind: 'embedded' } } });
    const second = spawnServer({ ATLAS_DATA_DIR: dataDir });
    running.push(second);
    expect(await second.exited).toBe(1);
    expect(second.output()).toMatch(/embedded database in .* is in use by .*pid \d+/);
    expect((await health(first.url)).status).toBe(200);
  });

  it('a start that fails on the embedded database closes it before saying so: free at once for the next start, and the process exits', async () => {
    // Before, the database stayed open and locked, and PGlite's own 10 s timer kept the failed
    // process alive past a supervisor's SIGTERM: every round of a crash loop, and every switch
    // away from a version that cannot start, waited on it.
    const dataDir = tempDir('atlas-failed-start-');
    const broken = makeRelease({ version: '1.3.2', migrations: { '0999_broken.sql': 'SELECT * FROM no_such_table;\n' } });
    const server = spawnServer({ ATLAS_DATA_DIR: dataDir }, broken);
    running.push(server);
    await eventually('the start to fail', async () => (server.logs.some((l) => l.msg === 'Tenant Plane could not start') ? true : undefined), 60);
    const db = await openEmbedded(dataDir); // refused while another process holds it
    try {
      expect(await db.query('SELECT count(*)::int AS n FROM schema_migrations')).toEqual([{ n: loadMigrations().length }]);
    } finally {
      await db.close();
    }
    expect(await server.exited).toBe(1);
  });

  it('a first start with no admin says how to make one, in the log and on the login page; once one exists, neither does', async () => {
    const dataDir = tempDir('atlas-first-run-');
    const first = await start({ ATLAS_DATA_DIR: dataDir });
    // The embedded database is one process's: the how-to stops the Tenant Plane first (newcomer.db.test.ts follows it).
    expect(first.logs.find((l) => l.level === 40)?.msg).toBe(
      `no administrator exists yet: stop the Tenant Plane (Ctrl-C where npm start runs; npx tpctl local stop on the local runtime), run in the same directory: ` +
        `${CREATE_FIRST_ADMIN} (a password of 12 characters or more), then start it again; or start the Tenant Plane once with ATLAS_ADMIN_EMAIL and ATLAS_ADMIN_PASSWORD set`,
    );
    const page = (await (await fetch(`${first.url}/login`)).text()).replace(/\s+/g, ' ');
    expect(page).toMatch(
      /<p class="notice" id="first-run"> No administrator exists yet: stop the Tenant Plane .*<code>read -rs .*<\/code>.* Then log in here\. <\/p>/,
    );
    first.child.kill('SIGTERM');
    await first.exited;

    const second = await start({ ATLAS_DATA_DIR: dataDir, ...ADMIN });
    expect(second.logs.some((l) => l.msg === 'first admin created from ATLAS_ADMIN_EMAIL')).toBe(true);
    expect(await (await fetch(`${second.url}/login`)).text()).not.toContain('first-run');
    expect(second.output()).not.toContain('no administrator exists yet');
  });

  it('a port in use is one log line naming ATLAS_PORT, exit 1, no stack trace; the database is closed', async () => {
    const dataDir = tempDir('atlas-busy-port-');
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    try {
      const port = (busy.address() as AddressInfo).port;
      const server = spawnServer({ ATLAS_DATA_DIR: dataDir, ATLAS_PORT: String(port) });
      running.push(server);
      expect(await server.exited).toBe(1);
      expect(server.logs.at(-1)).toMatchObject({
        msg: 'Tenant Plane could not start',
        err: `127.0.0.1:${port} is in use by another process: set ATLAS_PORT (and ATLAS_HOST) to an address it can listen on`,
      });
      expect(server.output()).not.toMatch(/\n\s+at /);
      await (await openEmbedded(dataDir)).close();
    } finally {
      busy.close();
    }
  });

  it('refuses bad configuration with exit code 2 and a clear message', async () => {
    for (const [env, message] of [
      [{ ATLAS_PORT: 'http' }, 'ATLAS_PORT=http is not valid: expected a whole number from 0 to 65535'],
      [{ DB_URL: 'mysql://x@y/z' }, 'DB_URL must be a postgresql:// URL'],
      [{ ATLAS_ADMIN_EMAIL: 'a@b.cd' }, 'set both ATLAS_ADMIN_EMAIL and ATLAS_ADMIN_PASSWORD'],
      [{ ATLAS_ADMIN_EMAIL: 'a@b.cd', ATLAS_ADMIN_PASSWORD: 'short' }, 'ATLAS_ADMIN_PASSWORD: the password must be at least 12 characters long'],
    ] as const) {
      const server = spawnServer({ ...env });
      expect(await server.exited).toBe(2);
      expect(server.output()).toContain(message);
    }
  });
});

describe('shutdown', () => {
  it('a SIGTERM during start-up (a supervisor switching release) waits for the embedded database, exits cleanly, and the next start works', async () => {
    const dataDir = tempDir('atlas-startup-term-');
    const first = spawnServer({ ATLAS_DATA_DIR: dataDir, ...ADMIN });
    running.push(first);
    await eventually('the server to start starting', async () => (first.logs.some((l) => l.msg === 'Tenant Plane starting') ? true : undefined), 30);
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    expect(first.logs.map((l) => l.msg)).toEqual(expect.arrayContaining(['stopping once the step under way is done', 'stopped during start-up']));
    const again = await start({ ATLAS_DATA_DIR: dataDir, ...ADMIN });
    expect((await fetch(`${again.url}/api/health`)).status).toBe(200);
  });

  it('on SIGTERM stops taking requests, completes the one in flight, and exits promptly', async () => {
    const url = await sharedPostgres().createDatabase();
    const server = await start({ DB_URL: url, ...ADMIN });
    const login = await fetch(`${server.url}/api/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: ADMIN.ATLAS_ADMIN_EMAIL, password: ADMIN.ATLAS_ADMIN_PASSWORD }),
    });
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!;

    // Hold the setting's row lock so that a write to it is provably in flight when the signal arrives.
    const blocker = new pg.Client({ connectionString: url });
    await blocker.connect();
    await blocker.query(`INSERT INTO settings (key, value) VALUES ('site.name', '"before"')`);
    await blocker.query('BEGIN');
    await blocker.query(`SELECT 1 FROM settings WHERE key = 'site.name' FOR UPDATE`);
    const inFlight = fetch(`${server.url}/api/admin/settings/site.name`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', cookie },
      body: JSON.stringify({ value: 'written during shutdown' }),
    });
    await eventually('the write to wait on the lock', async () => {
      // Asked outside the blocker's transaction, which would see one frozen snapshot of the statistics.
      const r = await sharedPostgres().sql(`SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%FROM settings%FOR UPDATE%'`);
      return r.rowCount ? true : undefined;
    });

    server.child.kill('SIGTERM');
    await eventually('the server to stop listening', async () => {
      try {
        await fetch(`${server.url}/api/health`);
        return undefined;
      } catch {
        return true;
      }
    });
    expect(server.child.exitCode).toBeNull(); // still finishing the write

    await blocker.query('COMMIT');
    await blocker.end();
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(((await res.json()) as { setting: { value: string } }).setting.value).toBe('written during shutdown');
    expect(await server.exited).toBe(0);
    expect(server.logs.map((l) => l.msg)).toEqual(expect.arrayContaining(['shutting down: finishing requests in flight', 'stopped']));
  });
});
