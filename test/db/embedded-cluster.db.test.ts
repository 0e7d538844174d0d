import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { freshClusterDir, newCluster } from '../../src/db/embedded.js';
import { tempDir } from '../support/temp.js';

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
  it('is made by initdb once per data directory, kept private, and copied from there the next time, the same', async () => {
    const dir = tempDir();
    const first = await shape(path.join(dir, 'one'), dir);
    const kept = freshClusterDir(dir);
    expect(statSync(kept).mode & 0o777).toBe(0o700);
    expect(readdirSync(dir).sort()).toEqual([path.basename(kept), 'one']);
    const keptAt = statSync(path.join(kept, 'global', 'pg_control')).mtimeMs;
    // Nothing written to the first cluster after its creation is in the copy.
    expect(await shape(path.join(dir, 'two'), dir)).toEqual(first);
    expect(statSync(path.join(kept, 'global', 'pg_control')).mtimeMs).toBe(keptAt);
    expect(first).toMatchObject({ databases: expect.arrayContaining(['postgres', 'template1']) as string[], rows: [{ a: 1 }] });
  });

  it('is made again by initdb when the kept copy does not load, and the copy is replaced', async () => {
    const dir = tempDir();
    mkdirSync(freshClusterDir(dir));
    writeFileSync(path.join(freshClusterDir(dir), 'PG_VERSION'), '9\n');
    expect((await shape(path.join(dir, 'one'), dir)).rows).toEqual([{ a: 1 }]);
    expect(readFileSync(path.join(freshClusterDir(dir), 'PG_VERSION'), 'utf8')).toMatch(/^1[7-9]\n$/);
  });

  it('refuses a directory that is not empty, and leaves it as it was', async () => {
    const dir = tempDir();
    mkdirSync(path.join(dir, 'data'));
    writeFileSync(path.join(dir, 'data', 'PG_VERSION'), '18\n');
    await expect(newCluster(path.join(dir, 'data'), dir)).rejects.toThrow(/is not empty/);
    expect(readFileSync(path.join(dir, 'data', 'PG_VERSION'), 'utf8')).toBe('18\n');
    expect(existsSync(freshClusterDir(dir))).toBe(false);
  });
});
