/**
 * HTTP throughput and p99 latency of the Tenant Plane on PostgreSQL, loopback, against a bare
 * node:http server answering a JSON body of the same size (the floor any Node.js service sits on).
 *
 *   npm run bench:http
 *
 * Each target gets the same bounded load: 20 connections for BENCH_SECONDS (default 5) s,
 * stopping early at 200,000 requests.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import autocannon from 'autocannon';
import { PostgresServer } from '../test/support/postgres-server.js';
import { startServerUnderLoad } from '../test/support/server-process.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const MAX_REQUESTS = 200_000;
const CONNECTIONS = 20;

interface Figures {
  rps: number;
  p99: number;
  errors: number;
}

async function load(url: string, headers: Record<string, string> = {}): Promise<Figures> {
  const result = await autocannon({ url, connections: CONNECTIONS, duration: SECONDS, maxOverallRequests: MAX_REQUESTS, timeout: 10, headers });
  return { rps: result.requests.total / result.duration, p99: result.latency.p99, errors: result.errors + result.non2xx };
}

function baseline(body: string): Promise<{ url: string; close: () => void }> {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(body);
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => server.close() })),
  );
}

const pg = await PostgresServer.start();
const admin = { ATLAS_ADMIN_EMAIL: 'bench@example.com', ATLAS_ADMIN_PASSWORD: 'bench-password-123' };
const tp = await startServerUnderLoad({ DB_URL: await pg.createDatabase('bench'), ...admin });
try {
  const login = await fetch(`${tp.url}/api/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: admin.ATLAS_ADMIN_EMAIL, password: admin.ATLAS_ADMIN_PASSWORD }),
  });
  const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!;
  for (const key of ['site.name', 'notify.channel', 'backup.keep']) {
    await fetch(`${tp.url}/api/admin/settings/${key}`, {
      method: 'PUT',
      headers: { cookie, 'content-type': 'application/json' },
      body: JSON.stringify({ value: `value of ${key}` }),
    });
  }
  const healthBody = await (await fetch(`${tp.url}/api/health`)).text();
  const settingsBody = await (await fetch(`${tp.url}/api/settings`, { headers: { cookie } })).text();

  const rows: [string, Figures, Figures][] = [];
  for (const [name, path, body, headers] of [
    ['GET /api/health', '/api/health', healthBody, {}],
    ['GET /api/settings (session cookie)', '/api/settings', settingsBody, { cookie }],
  ] as const) {
    const bare = await baseline(body);
    // Alternate, each twice, so that drift on the machine hits both sides alike.
    const ours: Figures[] = [];
    const theirs: Figures[] = [];
    for (let round = 0; round < 2; round++) {
      ours.push(await load(`${tp.url}${path}`, headers));
      theirs.push(await load(bare.url));
    }
    bare.close();
    const best = (xs: Figures[]) => xs.reduce((a, b) => (b.rps > a.rps ? b : a));
    rows.push([name, best(ours), best(theirs)]);
  }

  console.log(`\nTenant Plane HTTP on PostgreSQL, loopback, ${CONNECTIONS} connections for ${SECONDS} s (best of 2)\n`);
  console.log('route                                   req/s    p99 ms  errors | bare node:http req/s  p99 ms | ratio req/s');
  for (const [name, ours, bare] of rows) {
    console.log(
      `${name.padEnd(38)} ${ours.rps.toFixed(0).padStart(6)} ${String(ours.p99).padStart(8)} ${String(ours.errors).padStart(7)} | ${bare.rps.toFixed(0).padStart(20)} ${String(bare.p99).padStart(7)} | ${(ours.rps / bare.rps).toFixed(2).padStart(11)}`,
    );
  }
} finally {
  tp.child.kill('SIGTERM');
  await tp.exited;
  await pg.destroy();
}
