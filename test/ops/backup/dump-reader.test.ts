import { describe, expect, it } from 'vitest';
import { readDump, type DumpItem } from '../../../src/ops/backup/dump-reader.js';
import { moveToSchema, statementComplete } from '../../../src/ops/backup/sql-scan.js';

describe('statementComplete', () => {
  it.each([
    ['SELECT 1;', true],
    ['SELECT 1', false],
    ["SELECT 'a;'", false],
    ["SELECT 'it''s;';", true],
    ["SELECT E'a\\';';", true],
    ["SELECT E'a\\';", false],
    ["SELECT 'a\\';", true],
    ['SELECT "odd;name" FROM t;', true],
    ['SELECT "odd;', false],
    ['CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;', true],
    ['CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1;', false],
    ['CREATE FUNCTION f() RETURNS int AS $a$ SELECT $$;$$; $a$ LANGUAGE sql;', true],
    ['SELECT 1; -- done;', true],
    ['SELECT 1 -- not yet;', false],
    ['SELECT 1 /* not; */;', true],
    ['SELECT 1 /* not yet;', false],
  ])('%s → %s', (sql, complete) => {
    expect(statementComplete(sql)).toBe(complete);
  });
});

describe('moveToSchema', () => {
  const move = (sql: string) => moveToSchema(sql, 'incoming');

  it('moves qualified names, plain and quoted, and reports them', () => {
    expect(move('ALTER TABLE ONLY public.runs ADD CONSTRAINT runs_fk FOREIGN KEY (a) REFERENCES public."Odd ""Name"""(id);')).toEqual({
      sql: 'ALTER TABLE ONLY incoming.runs ADD CONSTRAINT runs_fk FOREIGN KEY (a) REFERENCES incoming."Odd ""Name"""(id);',
      names: new Set(['runs', '"Odd ""Name"""']),
    });
    expect(move("CREATE TABLE public.t (m public.mood DEFAULT 'ok'::public.mood);").sql).toBe(
      "CREATE TABLE incoming.t (m incoming.mood DEFAULT 'ok'::incoming.mood);",
    );
  });

  it('moves the names PostgreSQL reads from literals: regclass casts and setval', () => {
    expect(move("CREATE TABLE public.t (id integer DEFAULT nextval('public.t_id_seq'::regclass));")).toEqual({
      sql: "CREATE TABLE incoming.t (id integer DEFAULT nextval('incoming.t_id_seq'::regclass));",
      names: new Set(['t', 't_id_seq']),
    });
    expect(move("SELECT pg_catalog.setval('public.t_id_seq', 42, true);").sql).toBe("SELECT pg_catalog.setval('incoming.t_id_seq', 42, true);");
  });

  it('leaves other literals, comments, function bodies, other schemas and look-alikes alone', () => {
    const sql = [
      "COMMENT ON TABLE public.t IS 'copied from public.old';",
      '-- public.x',
      'CREATE FUNCTION public.f() RETURNS bigint AS $$ SELECT count(*) FROM public.t $$ LANGUAGE sql;',
      'SELECT mypublic.x, other.public, "public".y, s.public.z FROM pg_catalog.pg_class;',
    ].join('\n');
    const moved = move(sql);
    expect(moved.sql).toBe(sql.replace('ON TABLE public.t', 'ON TABLE incoming.t').replace('FUNCTION public.f', 'FUNCTION incoming.f'));
    expect(moved.names).toEqual(new Set(['t', 'f']));
  });

  it('reports no names for a statement outside schema public', () => {
    expect(move('CREATE EXTENSION IF NOT EXISTS pgcrypto;').names.size).toBe(0);
  });
});

async function items(text: string, pieceBytes: number, chunking: (buf: Buffer) => Buffer[]): Promise<DumpItem[]> {
  async function* source() {
    yield* chunking(Buffer.from(text));
  }
  const out: DumpItem[] = [];
  for await (const item of readDump(source(), pieceBytes)) out.push(item);
  return out;
}

/** The items with each COPY block's pieces joined, for comparing readings of the same text. */
function joined(list: DumpItem[]): unknown[] {
  const out: unknown[] = [];
  for (const item of list) {
    const last = out.at(-1) as { kind: string; copy: string; rows: string; pieces: number } | undefined;
    if (item.kind !== 'rows') out.push(item);
    else if (last?.kind === 'rows' && last.copy === item.copy && !last.rows.endsWith('<end>')) {
      last.rows += Buffer.concat(item.data).toString();
      last.pieces++;
    } else out.push({ kind: 'rows', copy: item.copy, table: item.table, rows: Buffer.concat(item.data).toString(), pieces: 1 });
  }
  return out.map((i) => ({ ...(i as object), pieces: undefined }));
}

const DUMP = `--
-- PostgreSQL database dump
--

\\restrict abc123

SET statement_timeout = 0;
SELECT pg_catalog.set_config('search_path', '', false);

CREATE FUNCTION public.f() RETURNS text
    LANGUAGE sql
    AS $$ SELECT 'a;
b' $$;

COPY public.t (id, note) FROM stdin;
1\tsemi; colon
2\ta \\\\. backslash-dot
3\t\\N
\\.


COPY public."Empty" (id) FROM stdin;
\\.


SELECT pg_catalog.setval('public.t_id_seq', 3, true);

ALTER TABLE ONLY public.t
    ADD CONSTRAINT t_pkey PRIMARY KEY (id);

\\unrestrict abc123
`;

describe('readDump', () => {
  it('splits a dump into statements, psql commands and COPY rows', async () => {
    const whole = await items(DUMP, 1 << 20, (b) => [b]);
    expect(
      whole.map((i) => (i.kind === 'rows' ? `rows ${i.table} ${Buffer.concat(i.data).toString().split('\n').length - 1}` : i.kind === 'psql' ? i.line : i.sql)),
    ).toEqual([
      '\\restrict abc123',
      'SET statement_timeout = 0;',
      "SELECT pg_catalog.set_config('search_path', '', false);",
      "CREATE FUNCTION public.f() RETURNS text\n    LANGUAGE sql\n    AS $$ SELECT 'a;\nb' $$;",
      'rows public.t 3',
      'rows public."Empty" 0',
      "SELECT pg_catalog.setval('public.t_id_seq', 3, true);",
      'ALTER TABLE ONLY public.t\n    ADD CONSTRAINT t_pkey PRIMARY KEY (id);',
      '\\unrestrict abc123',
    ]);
    expect(whole[4]).toMatchObject({
      copy: 'COPY public.t (id, note) FROM stdin;',
      bytes: Buffer.byteLength('1\tsemi; colon\n2\ta \\\\. backslash-dot\n3\t\\N\n'),
    });
  });

  it('reads the same however the stream is cut, and hands big tables out in whole-row pieces', async () => {
    const whole = joined(await items(DUMP, 1 << 20, (b) => [b]));
    const byteByByte = await items(DUMP, 10, (b) => [...b].map((byte) => Buffer.from([byte])));
    expect(joined(byteByByte)).toEqual(whole);
    const pieces = byteByByte.filter((i) => i.kind === 'rows' && i.table === 'public.t');
    expect(pieces.length).toBeGreaterThan(1);
    for (const piece of pieces) if (piece.kind === 'rows' && piece.bytes) expect(Buffer.concat(piece.data).toString()).toMatch(/\n$/);
    for (let cut = 1; cut < DUMP.length; cut += 7) {
      expect(joined(await items(DUMP, 16, (b) => [b.subarray(0, cut), b.subarray(cut)]))).toEqual(whole);
    }
  });

  it.each([
    ['in the middle of a statement', DUMP.slice(0, DUMP.indexOf("b' $$;") + 3), /the backup ends in the middle of a statement/],
    ['in the middle of rows', DUMP.slice(0, DUMP.indexOf('3\t')), /the backup ends in the middle of the rows of public\.t/],
    ['in the middle of a row', DUMP.slice(0, DUMP.indexOf('3\t') + 2), /the backup ends in the middle of the rows of public\.t/],
  ])('refuses a dump that ends %s', async (_name, text, error) => {
    await expect(items(text, 1 << 20, (b) => [b])).rejects.toThrow(error);
  });
});
