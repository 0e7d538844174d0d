/**
 * Agent check-ins one Tenant Plane replica absorbs on PostgreSQL: 50,000 enrolled agents, each
 * request from the next one's credential, 50 connections. First one pass over every agent (a
 * replica just started: none of them known yet), then BENCH_SECONDS (default 10) s of the
 * steady state (stopping at 300,000 requests), then GET /api/health on the same server as the
 * reference. Prints what the steady rate means in agents per replica at the agents' default
 * check-in interval.
 *
 *   npm run bench:agents         (BENCH_AGENTS=50000 BENCH_SECONDS=10)
 */
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';
import { openDatabase } from '../src/db/open.js';
import { hashSecret, newSecret } from '../src/server/auth/secrets.js';
import { PostgresServer } from '../test/support/postgres-server.js';
import { startServerUnderLoad } from '../test/support/server-process.js';

const AGENTS = Number(process.env.BENCH_AGENTS ?? 50_000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = 50;
/** The agents' default checkinIntervalSeconds (src/agent/config.ts). */
const DEFAULT_INTERVAL_SECONDS = 15;

const pg = await PostgresServer.start();
const url = await pg.createDatabase('bench');
const tp = await startServerUnderLoad({ DB_URL: url, ATLAS_LOG_LEVEL: 'info' });
try {
  const credentials = Array.from({ length: AGENTS }, () => newSecret('aga'));
  const db = await openDatabase({ url, embeddedDir: '' });
  await db.query(
    `INSERT INTO agents (name, credential_hash, labels, runbooks) SELECT 'sim-' || n, h, ARRAY['bench'], '["disk-usage"]' FROM unnest($1::text[]) WITH ORDINALITY AS t(h, n)`,
    [credentials.map(hashSecret)],
  );
  // The database's own count of transactions: how many check-ins each write carried.
  const commits = async () => {
    await sleep(1_500); // a session's counts reach pg_stat_database within a second of going idle
    const [row] = await db.query<{ n: string }>('SELECT xact_commit AS n FROM pg_stat_database WHERE datname = current_database()');
    return Number(row?.n);
  };

  let next = 0;
  const body = JSON.stringify({ version: '1.3.0', hostname: 'edge.example', runbooks: ['disk-usage', 'restart-nginx'] });
  const checkin: autocannon.Request = {
    method: 'POST',
    path: '/api/agent/checkin',
    body,
    headers: { 'content-type': 'application/json' },
    setupRequest: (req) => ({ ...req, headers: { ...req.headers, authorization: `Bearer ${credentials[next++ % AGENTS]}` } }),
  };
  const run = (options: autocannon.Options) => autocannon({ connections: CONNECTIONS, timeout: 10, ...options });
  const firstPass = await run({ url: tp.url, requests: [checkin], amount: AGENTS });
  const before = await commits();
  const steady = await run({ url: tp.url, requests: [checkin], duration: SECONDS, maxOverallRequests: 300_000 });
  const transactions = (await commits()) - before;
  await db.close();
  const health = await run({ url: `${tp.url}/api/health`, duration: SECONDS, maxOverallRequests: 300_000 });
  const rate = (r: autocannon.Result) => r.requests.total / r.duration;
  const line = (name: string, r: autocannon.Result) =>
    `${name.padEnd(34)} ${rate(r).toFixed(0).padStart(6)} /s   p99 ${String(r.latency.p99).padStart(3)} ms   non-2xx ${r.non2xx}   errors ${r.errors}`;
  console.log(`\n${AGENTS} enrolled agents, ${CONNECTIONS} connections, one replica, PostgreSQL on loopback\n`);
  console.log(line('check-ins, first pass (each once)', firstPass));
  console.log(line(`check-ins, steady (${SECONDS} s)`, steady));
  console.log(line('GET /api/health', health));
  console.log(`steady: ${(steady.requests.total / transactions).toFixed(1)} check-ins per database transaction (${transactions} transactions)`);
  console.log(`ratio steady check-ins / health: ${(rate(steady) / rate(health)).toFixed(2)}`);
  console.log(
    `at the default ${DEFAULT_INTERVAL_SECONDS} s interval: ${Math.floor(rate(steady) * DEFAULT_INTERVAL_SECONDS).toLocaleString('en-US')} agents per replica`,
  );
} finally {
  tp.child.kill('SIGTERM');
  await tp.exited;
  await pg.destroy();
}
