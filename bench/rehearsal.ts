/**
 * What the rehearsal adds to an upgrade, on a database of about 3 million rows (incidents, their
 * timelines, runbook executions, webhook deliveries), on the local runtime with PostgreSQL:
 *
 *   tpctl upgrade --to 1.3.0                    (backup, rehearsal on a copy, switch, gate)
 *   vs tpctl upgrade --to 1.3.0 --no-rehearsal  (the same without the rehearsal: the baseline)
 *
 * Alternated in one run, each upgrade a process of its own, the schema put back between rounds
 * (1.3.0's migration adds a column to incidents). Prints the medians, what the rehearsal adds,
 * the ratio, and the rehearsal's own figures.
 *
 *   npm run bench:rehearsal          (BENCH_SCALE=715 ≈ 3 million rows; BENCH_ROUNDS=3)
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { openDatabase } from '../src/db/open.js';
import { localRuntimeEnv } from '../test/support/local-runtime.js';
import { freePort, PostgresServer } from '../test/support/postgres-server.js';
import { makeRelease, PRIORITY } from '../test/support/release.js';
import { fillSampleData } from '../test/support/sample-data.js';
import { tempDir } from '../test/support/temp.js';
import { median } from './median.js';

const SCALE = Number(process.env.BENCH_SCALE ?? 715);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const tpctl = path.join(import.meta.dirname, '..', 'dist', 'cli', 'tpctl.js');

const pg = await PostgresServer.start({ durable: true });
const dir = tempDir('atlas-bench-rehearsal-');
const url = await pg.createDatabase('bench');
const local = localRuntimeEnv(dir, await freePort());
// The journey signs in as the admin the first start creates.
const env = {
  ...process.env,
  ...local,
  DB_URL: url,
  HEALTH_TIMEOUT: '120',
  ATLAS_BACKUP_KEEP: '2',
  ATLAS_VERIFY_EMAIL: local.ATLAS_ADMIN_EMAIL,
  ATLAS_VERIFY_PASSWORD: local.ATLAS_ADMIN_PASSWORD,
};
const run = (args: string[]) => execFileSync(process.execPath, [tpctl, ...args], { cwd: dir, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

try {
  for (const release of [makeRelease({ version: '1.2.2' }), makeRelease({ version: '1.3.0', migrations: PRIORITY })]) run(['release', 'add', release]);
  run(['local', 'start', '--version', '1.2.2']);
  process.stdout.write(`filling the database (scale ${SCALE})… `);
  const db = await openDatabase({ url, embeddedDir: '' });
  await fillSampleData(db, SCALE);
  // Its agents are made up: none is online to report in after the switch (the checklist would wait for them).
  await db.exec(`UPDATE agents SET last_seen_at = now() - interval '1 day'`);
  const [{ rows }] = (await db.query<{ rows: string }>(
    `SELECT (SELECT count(*) FROM incidents) + (SELECT count(*) FROM incident_events) + (SELECT count(*) FROM runbook_executions) + (SELECT count(*) FROM webhook_deliveries) AS rows`,
  )) as [{ rows: string }];
  const [{ bytes }] = (await db.query<{ bytes: string }>('SELECT pg_database_size(current_database()) AS bytes')) as [{ bytes: string }];
  console.log(`${Number(rows).toLocaleString('en')} rows, ${(Number(bytes) / 1e6).toFixed(0)} MB`);

  const times: Record<'baseline' | 'rehearsed', number[]> = { baseline: [], rehearsed: [] };
  const lines: string[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    // Alternated, so that neither side always runs on a warmer machine.
    for (const mode of round % 2 ? (['baseline', 'rehearsed'] as const) : (['rehearsed', 'baseline'] as const)) {
      // 1.2.2 serves on the schema as it was before 1.3.0.
      await db.exec(`ALTER TABLE incidents DROP COLUMN IF EXISTS priority; DELETE FROM schema_migrations WHERE name = '0900_incident_priority.sql'`);
      const started = performance.now();
      const out = run(['upgrade', '--to', '1.3.0', ...(mode === 'baseline' ? ['--no-rehearsal'] : [])]);
      times[mode].push((performance.now() - started) / 1000);
      const line = out.split('\n').find((l) => l.startsWith('rehearsal: '));
      if (mode === 'rehearsed' && line) lines.push(line);
      console.log(`round ${round} ${mode}: ${times[mode].at(-1)!.toFixed(1)} s${mode === 'rehearsed' ? ` (${line ?? 'no rehearsal line'})` : ''}`);
      run(['rollback', '--to', '1.2.2', '--no-rehearsal']);
    }
  }
  await db.close();
  const base = median(times.baseline);
  const rehearsed = median(times.rehearsed);
  console.log(`\nupgrade without the rehearsal: median ${base.toFixed(1)} s (${times.baseline.map((t) => t.toFixed(1)).join(', ')})`);
  console.log(`upgrade with the rehearsal:    median ${rehearsed.toFixed(1)} s (${times.rehearsed.map((t) => t.toFixed(1)).join(', ')})`);
  console.log(`the rehearsal adds ${(rehearsed - base).toFixed(1)} s: ratio ${(rehearsed / base).toFixed(2)}`);
  for (const line of lines) console.log(`  ${line}`);
} finally {
  try {
    run(['local', 'stop']);
  } catch {
    /* already stopped */
  }
  await pg.destroy();
}
