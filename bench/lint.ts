/**
 * `tpctl migrate lint` over 200 migrations, end to end (a real process, as in CI), against the
 * floor it cannot beat: the same process start plus a bare parse of every file with the same
 * parser. Target: the whole lint under a second on this machine.
 *
 *   npm run bench:lint
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { median } from './median.js';

const FILES = 200;
const ROUNDS = 5;
const root = path.resolve(import.meta.dirname, '..');

function migration(i: number): string {
  const t = `table_${i}`;
  return `-- Migration ${i}: a table, its indexes, a column on an older table, a backfill.
CREATE TABLE ${t} (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name text NOT NULL,
  "Owner" uuid REFERENCES users (id),
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ${t}_name_idx ON ${t} (name);
ALTER TABLE table_${Math.max(0, i - 1)} ADD COLUMN note_${i} text, ADD COLUMN level_${i} int DEFAULT 0;
COMMENT ON TABLE ${t} IS 'generated for the benchmark';
UPDATE table_${Math.max(0, i - 1)} SET level_${i} = 1 WHERE id < 100;
DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'reader') THEN CREATE ROLE reader; END IF; END $$;
CREATE VIEW ${t}_recent AS SELECT * FROM ${t} WHERE created_at > now() - interval '1 day';
`;
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'atlas-lint-bench-'));
for (let i = 1; i <= FILES; i++) writeFileSync(path.join(dir, `${String(i).padStart(4, '0')}_m${i}.sql`), migration(i));

const parseOnly = `
import { readdirSync, readFileSync } from 'node:fs';
import { loadModule, parseSync } from 'libpg-query';
await loadModule();
for (const f of readdirSync(process.argv[1])) parseSync(readFileSync(process.argv[1] + '/' + f, 'utf8'));
`;

function timed(run: () => void): number {
  const start = performance.now();
  run();
  return performance.now() - start;
}

const lint: number[] = [];
const parse: number[] = [];
for (let round = 0; round < ROUNDS; round++) {
  lint.push(timed(() => execFileSync(process.execPath, [path.join(root, 'dist/cli/tpctl.js'), 'migrate', 'lint', dir], { stdio: 'ignore' })));
  parse.push(timed(() => execFileSync(process.execPath, ['--input-type=module', '-e', parseOnly, dir], { cwd: root, stdio: 'ignore' })));
}
console.log(`\ntpctl migrate lint over ${FILES} migrations (process start included), median of ${ROUNDS}, alternated\n`);
console.log(`tpctl migrate lint         ${median(lint).toFixed(0).padStart(6)} ms   (target < 1000 ms)`);
console.log(`node + bare parse (floor)  ${median(parse).toFixed(0).padStart(6)} ms`);
console.log(`ratio lint / floor         ${(median(lint) / median(parse)).toFixed(2).padStart(6)}`);
