/**
 * Backup and restore of a ~500 MB Tenant Plane database (incidents, timelines, runbook
 * executions), against the naive pipelines they replace, measured alternately in one run on a
 * PostgreSQL server with its default (durable) settings:
 *
 *   backup   tpctl backup create        vs  pg_dump DB_URL | gzip -6 > FILE     target ≤ 0.6
 *   size     its file                   vs  gzip -6's file                      target ≤ 1.1
 *   restore  tpctl restore FILE --keep-new  vs  zcat FILE | psql DB_URL        target ≤ 0.7
 *   compare  what the comparison with the live data and the carry of the rows created since
 *            add to that restore (both timed by the restore itself)       target ≤ 15 %
 *   CPU      the CPU-seconds the machine spends on each restore, and the floor they set
 *
 *   npm run bench:backup          (BENCH_SCALE=500 ≈ 500 MB of tables; BENCH_ROUNDS=5)
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDatabase } from '../src/db/open.js';
import { connection } from '../src/ops/backup/pg-tools.js';
import { PostgresServer } from '../test/support/postgres-server.js';
import { fillSampleData } from '../test/support/sample-data.js';
import { median } from './median.js';

const SCALE = Number(process.env.BENCH_SCALE ?? 500);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const root = path.resolve(import.meta.dirname, '..');
const tpctl = path.join(root, 'dist', 'cli', 'tpctl.js');

const pg = await PostgresServer.start({ durable: true });

/** CPU-seconds the whole machine has spent busy so far (every process, the server's included), from /proc/stat. */
function busyCpuSeconds(): number {
  // cpu  user nice system idle iowait irq softirq steal …, in hundredths of a second
  const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  return [0, 1, 2, 5, 6, 7].reduce((sum, i) => sum + (fields[i] ?? 0), 0) / 100;
}

/**
 * Times a command from a clean start: what earlier runs left behind is written out first
 * (a checkpoint, then the page cache), so that no run pays for the one before it. With `cpu`,
 * also records the CPU-seconds the machine spent during it.
 */
async function timed(run: () => void, cpu?: number[]): Promise<number> {
  await pg.sql('CHECKPOINT');
  execFileSync('sync');
  const busy = busyCpuSeconds();
  const start = performance.now();
  run();
  cpu?.push(busyCpuSeconds() - busy);
  return (performance.now() - start) / 1000;
}

const logDir = mkdtempSync(path.join(os.tmpdir(), 'atlas-bench-backups-'));
try {
  const url = await pg.createDatabase('bench');
  const env = { ...process.env, DB_URL: url, ATLAS_LOG_DIR: logDir, ATLAS_BACKUP_KEEP: '100' };
  execFileSync(process.execPath, [tpctl, 'migrate', 'up'], { env, stdio: 'ignore' });
  process.stdout.write(`filling the database (scale ${SCALE})… `);
  const db = await openDatabase({ url, embeddedDir: '' });
  await fillSampleData(db, SCALE).finally(() => db.close());
  const size = (await pg.sql(`SELECT pg_database_size(current_database()) AS b`, url.split('/').pop())).rows[0] as { b: string };
  console.log(`${(Number(size.b) / 1e6).toFixed(0)} MB`);

  const c = connection(url);
  const shellEnv = { ...process.env, ...c.env };
  const naiveFile = path.join(logDir, 'naive.sql.gz');
  const backup = { ours: [] as number[], naive: [] as number[] };
  for (let round = 0; round < ROUNDS; round++) {
    backup.naive.push(await timed(() => execFileSync('sh', ['-c', `pg_dump '${c.url}' | gzip -6 > '${naiveFile}'`], { env: shellEnv })));
    backup.ours.push(await timed(() => execFileSync(process.execPath, [tpctl, 'backup', 'create'], { env, stdio: 'ignore' })));
  }
  const ours = readdirSync(logDir)
    .filter((n) => /^db-backup-.*\.sql\.gz$/.test(n))
    .sort()
    .at(-1)!;
  const ourFile = path.join(logDir, ours);
  const sizes = { ours: statSync(ourFile).size, naive: statSync(naiveFile).size };

  const restore = { ours: [] as number[], naive: [] as number[], compared: [] as number[] };
  const cpu = { ours: [] as number[], naive: [] as number[] };
  for (let round = 0; round < ROUNDS; round++) {
    restore.naive.push(await timed(() => execFileSync('sh', ['-c', `zcat '${ourFile}' | psql -q '${c.url}' > /dev/null 2>&1`], { env: shellEnv }), cpu.naive));
    let out = '';
    restore.ours.push(
      await timed(
        () =>
          void (out = execFileSync(process.execPath, [tpctl, 'restore', ourFile, '--keep-new', '--json'], {
            env,
            encoding: 'utf8',
            stdio: ['ignore', 'pipe', 'inherit'],
          })),
        cpu.ours,
      ),
    );
    const { sinceBackup } = JSON.parse(out) as { sinceBackup: { compareMs: number; carryMs: number } };
    restore.compared.push((sinceBackup.compareMs + sinceBackup.carryMs) / 1000);
  }

  const line = (name: string, a: number, b: number, target: string, unit = 's') =>
    console.log(`${name.padEnd(9)} ${a.toFixed(2).padStart(8)} ${unit}  ${b.toFixed(2).padStart(8)} ${unit}   ratio ${(a / b).toFixed(2)}  (target ${target})`);
  console.log(`\nmedians of ${ROUNDS}, alternated; PostgreSQL ${pg.port} with default settings\n`);
  console.log('          tpctl        baseline');
  line('backup', median(backup.ours), median(backup.naive), '≤ 0.60: pg_dump | gzip -6');
  line('size', sizes.ours / 1e6, sizes.naive / 1e6, '≤ 1.10: gzip -6', 'MB');
  line('restore', median(restore.ours), median(restore.naive), '≤ 0.70: zcat | psql');
  const share = median(restore.compared.map((t, i) => t / restore.ours[i]!));
  console.log(
    `compare  ${median(restore.compared).toFixed(2).padStart(8)} s  of the restore's time: ${(share * 100).toFixed(1)} %  (target ≤ 15 %: the comparison with the live data and the carry)`,
  );
  // On this many cores no restore can take less than its CPU-seconds divided by them.
  const cores = os.availableParallelism();
  console.log(
    `CPU      ${median(cpu.ours).toFixed(1).padStart(8)} s  ${median(cpu.naive).toFixed(1).padStart(8)} s   CPU-seconds of the restore; on ${cores} cores tpctl's floor is ${(median(cpu.ours) / cores).toFixed(2)} s, ratio ${(median(cpu.ours) / cores / median(restore.naive)).toFixed(2)} of zcat | psql`,
  );
  console.log(
    `\nall rounds: backup ${backup.ours.map((t) => t.toFixed(2)).join(' ')} vs ${backup.naive.map((t) => t.toFixed(2)).join(' ')}; restore ${restore.ours.map((t) => t.toFixed(2)).join(' ')} vs ${restore.naive.map((t) => t.toFixed(2)).join(' ')}; compare ${restore.compared.map((t) => t.toFixed(2)).join(' ')}`,
  );
} finally {
  await pg.destroy();
  rmSync(logDir, { recursive: true, force: true });
}
