/**
 * Peak resident memory of tpctl restoring large backups, on both databases, against the budget
 * of 300 MB: memory is bounded by design (a piece of rows, one line, one batch of statements),
 * not by the size of the backup.
 *
 *   1 GiB     a backup of about 1 GiB of SQL (BENCH_SQL_MB), restored       target ≤ 300 MB
 *   200 MB    a backup with one 200 MB line: refused, by restore and by verify alike,
 *             with the reason, before it is loaded                           target ≤ 300 MB
 *
 * Each restore runs as tpctl does, in a process of its own; the figure is the peak of the resident
 * memory of tpctl and every process it started (the embedded database's load and the live data's
 * dump are processes of their own), summed, sampled every 100 ms from /proc: what the restore
 * takes from the machine. psql's sessions count too (they are tpctl's children), the PostgreSQL
 * server does not.
 *
 * The backups are made from a real signed backup, grown row by row as a stream, and signed again
 * with the same keyring.
 *
 *   npm run bench:restore-memory        (BENCH_SQL_MB=1024)
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { readManifest, writeManifest } from '../src/ops/backup/manifest.js';
import { backupKeys, sign } from '../src/ops/backup/signing.js';
import { PostgresServer } from '../test/support/postgres-server.js';

const SQL_MB = Number(process.env.BENCH_SQL_MB ?? 1024);
const BUDGET_MB = 300;
const root = path.resolve(import.meta.dirname, '..');
const tpctl = path.join(root, 'dist', 'cli', 'tpctl.js');
const work = mkdtempSync(path.join(os.tmpdir(), 'atlas-bench-memory-'));

/** The resident memory of `pid` and its descendants, in kB (0 once it is gone). */
function treeRssKb(pid: number): number {
  let kb = 0;
  try {
    kb = Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      for (const child of readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').split(' ').filter(Boolean)) kb += treeRssKb(Number(child));
    }
  } catch {
    // It ended between two reads.
  }
  return kb;
}

/** Runs tpctl: its exit code, its output, and the peak of its process tree's resident memory in MB. */
async function measured(args: string[], env: Record<string, string>): Promise<{ code: number | null; output: string; peakMb: number; seconds: number }> {
  const started = performance.now();
  const child = spawn(process.execPath, [tpctl, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  let peakKb = 0;
  const sampler = setInterval(() => (peakKb = Math.max(peakKb, treeRssKb(child.pid!))), 100);
  const [code] = (await once(child, 'close')) as [number | null];
  clearInterval(sampler);
  return { code, output, peakMb: peakKb / 1024, seconds: (performance.now() - started) / 1000 };
}

/** An incident row of the backup's COPY (PostgreSQL) or INSERT (embedded) form, its description `size` bytes. */
function incident(id: number, size: number, form: 'copy' | 'insert'): string {
  const text = `row ${id} `.padEnd(size, 'abcdefghij');
  return form === 'copy'
    ? `${id}\tgrown ${id}\t${text}\tlow\topen\t\\N\t\\N\t2026-01-01 00:00:00+00\t2026-01-01 00:00:00+00\t\\N\t\\N\n`
    : `INSERT INTO public.incidents OVERRIDING SYSTEM VALUE VALUES (${id}, 'grown ${id}', '${text}', 'low', 'open', NULL, NULL, '2026-01-01 00:00:00+00', '2026-01-01 00:00:00+00', NULL, NULL);\n`;
}

/** A copy of `original` with `rows` rows of `rowBytes` each added to incidents, signed again with the keyring of `dataDir`. */
async function grown(original: string, dataDir: string, name: string, rows: number, rowBytes: number): Promise<string> {
  const file = path.join(path.dirname(original), name);
  const manifest = readManifest(original);
  const form = manifest.source === 'postgres' ? 'copy' : 'insert';
  let uncompressed = 0;
  function* added(): Generator<Buffer> {
    for (let i = 0; i < rows; i++) {
      const row = Buffer.from(incident(50_000_000 + i, rowBytes, form));
      uncompressed += row.length;
      yield row;
    }
  }
  // The rows go right after the COPY line (PostgreSQL), or after the whole dump (embedded: INSERTs).
  async function* withRows(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    let carry = '';
    for await (const chunk of source) {
      const lines = (carry + chunk.toString('utf8')).split('\n');
      carry = lines.pop() ?? '';
      for (const line of lines) {
        const out = Buffer.from(`${line}\n`);
        uncompressed += out.length;
        yield out;
        if (form === 'copy' && line.startsWith('COPY public.incidents ')) yield* added();
      }
    }
    if (carry) throw new Error('the backup does not end with a line end');
    if (form === 'insert') yield* added();
  }
  await pipeline(createReadStream(original), zlib.createGunzip(), withRows, zlib.createGzip({ level: 1 }), createWriteStream(file));
  const sha256 = createHash('sha256');
  await pipeline(createReadStream(file), async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) sha256.update(chunk);
  });
  const tables = { ...manifest.tables, 'public.incidents': (manifest.tables['public.incidents'] ?? 0) + rows };
  const next = { ...manifest, file: name, sizeBytes: statSync(file).size, uncompressedBytes: uncompressed, sha256: sha256.digest('hex'), tables };
  writeManifest(file, sign(next, backupKeys({ dataDir })));
  return file;
}

const pg = await PostgresServer.start();
const lines: string[] = [];
try {
  for (const kind of ['postgres', 'embedded'] as const) {
    const dataDir = path.join(work, kind, 'data');
    const logDir = path.join(work, kind, 'logs');
    const env: Record<string, string> = { ATLAS_DATA_DIR: dataDir, ATLAS_LOG_DIR: logDir };
    if (kind === 'postgres') env.DB_URL = await pg.createDatabase('memory');
    execFileSync(process.execPath, [tpctl, 'migrate', 'up'], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: 'ignore' });
    const made = JSON.parse(
      execFileSync(process.execPath, [tpctl, 'backup', 'create', '--json'], { env: { PATH: process.env.PATH ?? '', ...env } }).toString(),
    ) as {
      file: string;
    };
    const rowBytes = 1024;
    const big = await grown(made.file, dataDir, `db-backup-big-${kind}.sql.gz`, Math.round((SQL_MB << 20) / rowBytes), rowBytes);
    const longLine = await grown(made.file, dataDir, `db-backup-line-${kind}.sql.gz`, 1, 200 << 20);
    const restored = await measured(['restore', big], env);
    if (restored.code !== 0) throw new Error(`the ${SQL_MB} MB restore on ${kind} failed: ${restored.output}`);
    lines.push(
      `${kind.padEnd(9)} ${SQL_MB} MB of SQL restored     peak RSS ${restored.peakMb.toFixed(0)} MB  (${(restored.peakMb / BUDGET_MB).toFixed(2)} of the ${BUDGET_MB} MB budget), in ${restored.seconds.toFixed(0)} s`,
    );
    for (const args of [
      ['restore', longLine],
      ['backup', 'verify', longLine],
    ]) {
      const refused = await measured(args, env);
      const reason = /more than \d+ MB, which the Tenant Plane never writes/.exec(refused.output)?.[0];
      if (refused.code === 0 || !reason) throw new Error(`${args.join(' ')} on ${kind} did not refuse the 200 MB line: ${refused.output}`);
      lines.push(
        `${kind.padEnd(9)} a 200 MB line, ${args[0] === 'restore' ? 'restore' : 'verify '}   peak RSS ${refused.peakMb.toFixed(0)} MB  (${(refused.peakMb / BUDGET_MB).toFixed(2)}); exit ${refused.code}: "${reason}"`,
      );
    }
  }
  console.log(lines.join('\n'));
} finally {
  await pg.destroy();
  rmSync(work, { recursive: true, force: true });
}
