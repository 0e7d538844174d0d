#!/usr/bin/env node
import { ConfigError, configFromEnv } from '../server/config.js';
import { runServer } from '../server/start.js';

const HELP = `atlas-tenant-plane: runs the AtlasAI Tenant Plane (HTTP on port 3000)

Configuration is by environment:
  DB_URL                 postgresql://user:password@host:5432/db; unset: embedded database
  ATLAS_DATA_DIR         where the embedded database lives (default ./data)
  ATLAS_HOST, ATLAS_PORT listen address (default 0.0.0.0:3000)
  ATLAS_ADMIN_EMAIL, ATLAS_ADMIN_PASSWORD
                         create the first admin on first start (password: 12+ characters)
  ATLAS_DB_WAIT          seconds to wait for the database at start (default 30)
  ATLAS_SESSION_TTL      session lifetime in seconds (default 43200)
  ATLAS_LOGIN_MAX_FAILURES, ATLAS_LOGIN_MAX_FAILURES_PER_ADDRESS, ATLAS_LOGIN_WINDOW
                         login throttling (default 5 per account, 50 per address, per 900 s)
  ATLAS_TRUST_PROXY=1    behind a reverse proxy: trust X-Forwarded-For/-Proto
  ATLAS_LOG_LEVEL        debug, info (default), warn, error

Logs are JSON lines on standard output. SIGTERM stops it cleanly.
`;

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  process.stdout.write(HELP);
} else {
  try {
    await runServer(configFromEnv());
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`atlas-tenant-plane: ${err.message}\n`);
    process.exitCode = 2;
  }
}
