import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { openDatabase } from '../db/open.js';
import { type Database } from '../db/database.js';
import { loadMigrations, migrate } from '../db/migrations.js';
import { adminExists, CREATE_FIRST_ADMIN, createUser, firstAdminHowTo } from '../db/users.js';
import { urlSecrets } from '../shared/redact.js';
import { readAppVersion } from '../shared/version.js';
import { buildApp } from './app.js';
import { acceptHandedConnections } from './handoff.js';
import type { ServerConfig } from './config.js';
import { createLogger } from './logger.js';

/** After SIGTERM, in-flight requests get this long before the process exits anyway. */
const SHUTDOWN_GRACE_MS = 10_000;

/** A PostgreSQL server that is still starting (as in `docker compose up`) is waited for, within limits (and not once asked to stop). */
async function connect(config: ServerConfig, log: Logger, stopAsked: () => boolean): Promise<Database> {
  const deadline = Date.now() + config.dbWaitSeconds * 1000;
  for (let attempt = 1; ; attempt++) {
    const db = await openDatabase({ url: config.dbUrl, embeddedDir: config.dataDir });
    try {
      await db.query('SELECT 1');
      log.info({ database: db.location, kind: db.kind }, 'database connected');
      if (db.kind === 'postgres') await warnIfSuperuser(db, log);
      return db;
    } catch (err) {
      await db.close().catch(() => {});
      if (Date.now() >= deadline || stopAsked()) throw err;
      log.warn({ database: db.location, attempt, err: (err as Error).message }, 'database not reachable yet; retrying');
      await sleep(Math.min(250 * 2 ** attempt, 5_000));
    }
  }
}

/** A superuser can run programs and read files on the database host: the Tenant Plane (and a restore) needs no such power. */
async function warnIfSuperuser(db: Database, log: Logger): Promise<void> {
  const [role] = await db.query<{ name: string; superuser: boolean }>(
    `SELECT rolname AS name, rolsuper AS superuser FROM pg_roles WHERE rolname = current_user`,
  );
  if (role?.superuser)
    log.warn(
      { role: role.name },
      'the database role is a superuser: give the Tenant Plane a role that owns its database and is not one (docs/security/threat-model.md)',
    );
}

/** The first admin, from ATLAS_ADMIN_EMAIL when it is set; while none exists, the log says how to make one. */
async function firstAdmin(db: Database, admin: { email: string; password: string } | undefined, log: Logger): Promise<void> {
  if (await adminExists(db)) return;
  const user = admin && (await createUser(db, { email: admin.email, password: admin.password, role: 'admin', name: 'Administrator' }));
  if (user) log.info({ email: user.email }, 'first admin created from ATLAS_ADMIN_EMAIL');
  else {
    const howTo = firstAdminHowTo(db.kind);
    log.warn(`no administrator exists yet: ${howTo.before}: ${CREATE_FIRST_ADMIN} ${howTo.after}`);
  }
}

/** Starts the Tenant Plane: database, migrations, first admin, HTTP; stops cleanly on SIGTERM. */
export async function runServer(config: ServerConfig): Promise<void> {
  const version = readAppVersion();
  const log = createLogger(config.logLevel, [...urlSecrets(config.dbUrl), config.admin?.password ?? '', config.metricsToken ?? '']);
  // A signal during start-up (a supervisor switching release) waits for the step under way:
  // killed while the embedded database writes, the process could leave it unusable. Handled
  // before the first line is logged: whoever reads that line may signal at once.
  let signalled: string | undefined;
  let onSignal = (signal: string) => {
    signalled ??= signal;
    log.info({ signal }, 'stopping once the step under way is done');
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  log.info({ version, pid: process.pid }, 'Tenant Plane starting');

  let db: Database | undefined;
  // Closed before saying so: an embedded database left open stays locked and keeps the process
  // alive (PGlite's own timers, up to 10 s), and one not closed is left for crash recovery.
  const couldNotStart = async (reason: string) => {
    await db?.close().catch(() => {});
    log.fatal({ err: reason }, 'Tenant Plane could not start');
    process.exitCode = 1;
  };
  const migrations = loadMigrations();
  try {
    db = await connect(config, log, () => signalled !== undefined);
    const result = await migrate(db, migrations, version, () => log.info('another process is applying migrations; waiting for it'));
    log.info({ applied: result.applied, ahead: result.state.ahead, total: result.state.applied.length }, 'schema ready');
    if (result.state.ahead.length > 0) {
      log.warn({ ahead: result.state.ahead }, 'the schema is ahead of this version (as after a rollback); serving on it');
    }
    await db.query(
      `INSERT INTO tenant_plane_instance (version, host) VALUES ($1, $2)
       ON CONFLICT (singleton) DO UPDATE SET version = excluded.version, host = excluded.host, started_at = now()`,
      [version, hostname()],
    );
    await firstAdmin(db, config.admin, log);
  } catch (err) {
    return couldNotStart((err as Error).message);
  }

  const app = await buildApp({
    db,
    version,
    migrations,
    logger: log,
    sessionTtlSeconds: config.sessionTtlSeconds,
    login: config.login,
    trustProxy: config.trustProxy,
    webhooks: config.webhooks,
    agentOnlineSeconds: config.agentOnlineSeconds,
    metricsToken: config.metricsToken,
  });

  if (signalled) {
    await app.close();
    await db.close();
    log.info({ signal: signalled }, 'stopped during start-up');
    return;
  }
  let stopping = false;
  onSignal = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down: finishing requests in flight');
    setTimeout(() => {
      log.error('shutdown grace expired; exiting with requests still open');
      process.exit(1);
    }, SHUTDOWN_GRACE_MS).unref();
    void app
      .close()
      .then(() => db.close())
      .then(() => log.info('stopped'))
      .catch((err: unknown) => {
        log.error({ err }, 'error while shutting down');
        process.exitCode = 1;
      });
  };

  let address: string;
  try {
    address = await app.listen({ host: config.host, port: config.port });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EADDRINUSE' && code !== 'EACCES' && code !== 'EADDRNOTAVAIL') throw err;
    await app.close();
    const why = {
      EADDRINUSE: 'is in use by another process',
      EACCES: 'needs privileges this process does not have',
      EADDRNOTAVAIL: 'is not an address of this host',
    }[code];
    return couldNotStart(`${config.host}:${config.port} ${why}: set ATLAS_PORT (and ATLAS_HOST) to an address it can listen on`);
  }
  log.info({ version, address }, 'Tenant Plane ready');
  if (config.handoff) acceptHandedConnections(app.server, (app.server.address() as AddressInfo).port, log);
}
