import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { freshClusterFile, newCluster } from '../../src/db/embedded.js';
import { tempDir } from '../support/backends.js';

/** What a cluster is made of, compared between two clusters: the databases and the catalog's size. */
async function shape(dataDir: string, keptIn: string) {
  const db = await newCluster(dataDir, keptIn);
  try {
    await db.exec('CREATE TABLE t (a int); INSERT INTO t VALUES (1)');
    const databases = (await db.query<{ datname: string }>('SELECT datname FROM pg_database ORDER BY 1')).rows.map((r) => r.datname);
    const relations = (await db.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_class WHERE relnamespace = 'pg_catalog'::regnamespace")).rows[0]!.n;
    return { databases, relations, rows: (await db.query('SELECT * FROM t')).rows };
  } finally {
    await db.close();
  }
}

describe('a new embedded cluster', () => {
  it('is made by initdb once per data directory, kept private, and unpacked from that copy the next time, the same', async () => {
    const dir = tempDir();
    const first = await shape(path.join(dir, 'one'), dir);
    const kept = freshClusterFile(dir);
    expect(statSync(kept).mode & 0o777).toBe(0o600);
    const keptAt = statSync(kept).mtimeMs;
    // Nothing written to the first cluster after its creation is in the copy.
    expect(await shape(path.join(dir, 'two'), dir)).toEqual(first);
    expect(statSync(kept).mtimeMs).toBe(keptAt);
    expect(first).toMatchObject({ databases: expect.arrayContaining(['postgres', 'template1']) as string[], rows: [{ a: 1 }] });
  });

  it('is made again by initdb when the kept copy does not load, and the copy is replaced', async () => {
    const dir = tempDir();
    writeFileSync(freshClusterFile(dir), 'not a tarball');
    expect((await shape(path.join(dir, 'one'), dir)).rows).toEqual([{ a: 1 }]);
    expect(readFileSync(freshClusterFile(dir)).subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
  });

  it('refuses a directory that is not empty, and leaves it as it was', async () => {
    const dir = tempDir();
    mkdirSync(path.join(dir, 'data'));
    writeFileSync(path.join(dir, 'data', 'PG_VERSION'), '18\n');
    await expect(newCluster(path.join(dir, 'data'), dir)).rejects.toThrow(/is not empty/);
    expect(readFileSync(path.join(dir, 'data', 'PG_VERSION'), 'utf8')).toBe('18\n');
    expect(existsSync(freshClusterFile(dir))).toBe(false);
  });
});
