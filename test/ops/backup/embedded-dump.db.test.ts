import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { openEmbedded } from '../../../src/db/embedded.js';
import { loadMigrations, migrate } from '../../../src/db/migrations.js';
import { embeddedDump, embeddedTables } from '../../../src/ops/backup/embedded-dump.js';
import { loadEmbeddedDumpIntoSchema, loadIntoEmbedded } from '../../../src/ops/backup/load.js';
import { tableShapes } from '../../../src/ops/backup/table-shapes.js';
import { embeddedDir } from '../../support/backends.js';

/** Values that a dump quotes wrongly if it quotes them at all by hand. */
const ODD = `
CREATE TABLE public.odd (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  t text, b bytea, a text[], j jsonb, ts timestamptz, f float8, n numeric, i interval,
  twice bigint GENERATED ALWAYS AS (id * 2) STORED,
  "Mixed ""Name""" text
);
INSERT INTO public.odd (t, b, a, j, ts, f, n, i, "Mixed ""Name""") VALUES
  (E'it''s a \\\\ back\\nslash\\ttab', '\\x00ff10', ARRAY['a,b', NULL, '"q"'], '{"k": "v\\u00e9", "n": [1, 2.5]}',
   '2026-03-26 10:00:00.123456+02', 0.1, 12345678901234567890.000001, '1 day 2 hours', 'é ✓ 𝄞'),
  (NULL, NULL, NULL, NULL, NULL, 'NaN', NULL, NULL, NULL),
  ('', '', '{}', 'null', '-infinity', 1e-300, -0.0, '-1 sec', '');
DELETE FROM public.odd WHERE t = '';
INSERT INTO public.odd (t) SELECT 'row ' || g FROM generate_series(1, 250) g;
`;

async function dumped(dir: string): Promise<{ chunks: Buffer[]; tables: Record<string, number> }> {
  const db = await openEmbedded(dir);
  try {
    const tables: Record<string, number> = {};
    const chunks: Buffer[] = [];
    for await (const chunk of embeddedDump(db.pglite, tables)) chunks.push(chunk);
    return { chunks, tables };
  } finally {
    await db.close();
  }
}

describe('the embedded database dump', () => {
  it('reads back every value as it was, the identity and sequence positions too, and comes in pieces, with row counts', async () => {
    const source = embeddedDir();
    const db = await openEmbedded(source);
    await migrate(db, loadMigrations(), '1.3.0');
    await db.exec(ODD);
    const rows = (d: typeof db) => d.query(`SELECT * FROM public.odd ORDER BY id`);
    const before = await rows(db);
    await db.close();

    const { chunks, tables } = await dumped(source);
    expect(tables['public.odd']).toBe(252);
    expect(tables['public.schema_migrations']).toBe(loadMigrations().length);
    // 252 rows in fetches of 100: the rows never come as one piece.
    expect(chunks.filter((c) => c.toString().startsWith('INSERT INTO public.odd')).length).toBe(3);

    const target = embeddedDir();
    // Closed and opened again: what was loaded is in the files.
    await (await loadIntoEmbedded(`${target}/pglite`, target, Readable.from([gzipSync(Buffer.concat(chunks))]))).close();
    const restored = await openEmbedded(target);
    try {
      expect(await rows(restored)).toEqual(before);
      // The identity goes on after the last row, as it would have in the source.
      const [next] = await restored.query<{ id: string }>(`INSERT INTO public.odd (t) VALUES ('next') RETURNING id`);
      expect(Number(next!.id)).toBe(Math.max(...before.map((r) => Number(r.id))) + 1);
    } finally {
      await restored.close();
    }
  });

  it("copies, for a restore's comparison, every table's columns, rows and keys into another schema, without pg_dump", async () => {
    const source = embeddedDir();
    const db = await openEmbedded(source);
    await migrate(db, loadMigrations(), '1.3.0');
    await db.exec(ODD);
    await db.exec(
      `INSERT INTO incidents (title, severity) VALUES ('one', 'low'); INSERT INTO incident_events (incident_id, actor, kind, detail) SELECT id, 'a@example.com', 'comment', '{"text": "x"}' FROM incidents`,
    );
    const chunks: Buffer[] = [];
    for await (const chunk of embeddedTables(db.pglite)) chunks.push(chunk);
    expect(Buffer.concat(chunks).toString()).not.toMatch(/CREATE (INDEX|TRIGGER|FUNCTION)|setval/);
    await db.exec('CREATE SCHEMA atlas_live');
    await loadEmbeddedDumpIntoSchema(db, Readable.from(chunks), 'atlas_live');
    const shapes = async (schema: string) => [...(await tableShapes(db, schema)).values()].map((t) => ({ ...t, estimatedRows: 0 }));
    try {
      expect(await shapes('atlas_live')).toEqual(await shapes('public'));
      expect((await shapes('public')).find((t) => t.name === 'incident_events')).toMatchObject({ key: ['id'], parents: ['incidents'] });
      for (const table of ['odd', 'incidents', 'incident_events', 'schema_migrations']) {
        expect(await db.query(`SELECT * FROM atlas_live.${table} ORDER BY 1`)).toEqual(await db.query(`SELECT * FROM public.${table} ORDER BY 1`));
      }
    } finally {
      await db.close();
    }
  });
});
