/**
 * Agent check-ins the Tenant Plane absorbs on PostgreSQL: 5,000 enrolled agents, each request
 * from the next one's credential, 50 connections for 10 s (stopping at 300,000 requests), with
 * GET /api/health on the same server in the same run as the reference.
 *
 *   npm run bench:agents         (BENCH_AGENTS=5000 BENCH_SECONDS=10)
 */
import autocannon from 'autocannon';
import { openDatabase } from '../src/db/database.js';
import { hashSecret, newSecret } from '../src/server/auth/secrets.js';
import { PostgresServer } from '../test/support/postgres-server.js';
import { startServer } from '../test/support/server-process.js';

const AGENTS = Number(process.env.BENCH_AGENTS ?? 5000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = 50;

const pg = await PostgresServer.start();
const url = await pg.createDatabase('bench');
const tp = await startServer({ DB_URL: url, ATLAS_LOG_LEVEL: 'info' });
try {
  const credentials = Array.from({ length: AGENTS }, () => newSecret('aga'));
  const db = await openDatabase({ url, embeddedDir: '' });
  await db.query(
    `INSERT INTO agents (name, credential_hash, labels, runbooks) SELECT 'sim-' || n, h, ARRAY['bench'], '["disk-usage"]' FROM unnest($1::text[]) WITH ORDINALITY AS t(h, n)`,
    [credentials.map(hashSecret)],
  );
  await db.close();

  let next = 0;
  const body = JSON.stringify({ version: '1.3.0', hostname: 'edge.example', runbooks: ['disk-usage', 'restart-nginx'] });
  const run = (options: autocannon.Options) => autocannon({ connections: CONNECTIONS, duration: SECONDS, maxOverallRequests: 300_000, ...options });
  const checkins = await run({
    url: tp.url,
    requests: [
      {
        method: 'POST',
        path: '/api/agent/checkin',
        body,
        headers: { 'content-type': 'application/json' },
        setupRequest: (req) => ({ ...req, headers: { ...req.headers, authorization: `Bearer ${credentials[next++ % AGENTS]}` } }),
      },
    ],
  });
  const health = await run({ url: `${tp.url}/api/health` });
  const rate = (r: autocannon.Result) => r.requests.total / r.duration;
  console.log(`\n${AGENTS} agents, ${CONNECTIONS} connections for ${SECONDS} s, PostgreSQL on loopback\n`);
  console.log(`agent check-ins      ${rate(checkins).toFixed(0).padStart(6)} /s   p99 ${checkins.latency.p99} ms   non-2xx ${checkins.non2xx}   errors ${checkins.errors}`);
  console.log(`GET /api/health      ${rate(health).toFixed(0).padStart(6)} /s   p99 ${health.latency.p99} ms`);
  console.log(`ratio check-ins / health: ${(rate(checkins) / rate(health)).toFixed(2)}`);
  console.log(`every one of the ${AGENTS} agents checked in ${(checkins.requests.total / AGENTS).toFixed(1)} times on average`);
} finally {
  tp.child.kill('SIGTERM');
  await tp.exited;
  await pg.destroy();
}
