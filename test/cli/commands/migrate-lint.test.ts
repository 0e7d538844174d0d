import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../support/temp.js';
import { tpctl } from '../../support/tpctl.js';

function dirWith(files: Record<string, string>): string {
  const dir = tempDir('atlas-lint-');
  for (const [name, sql] of Object.entries(files)) writeFileSync(path.join(dir, name), sql);
  return dir;
}

describe('tpctl migrate lint', () => {
  it("passes this project's own migrations (the CI gate)", async () => {
    const res = await tpctl(['migrate', 'lint'], {});
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/\d+ files?: 0 violations/);
  });

  it('reads only migrations: a file named by mistake (or on purpose) is refused without a word of it shown', async () => {
    const dir = dirWith({ shadow: 'root:$6$secretword:19000:0:99999:7:::\n' });
    const res = await tpctl(['migrate', 'lint', path.join(dir, 'shadow')], {});
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('is not a migration (NNNN_name.sql) or a directory of them');
    expect(`${res.stdout}${res.stderr}`).not.toContain('secretword');
  });

  it('fails a migration that drops a column, naming the line, what breaks and the safe alternative', async () => {
    const dir = dirWith({
      '0001_init.sql': 'CREATE TABLE incidents (id int PRIMARY KEY, title text, severity text);',
      '0002_drop_severity.sql': '-- severity is derived now\n\nALTER TABLE incidents\n  DROP COLUMN severity;\n',
    });
    const res = await tpctl(['migrate', 'lint', dir], {});
    expect(res.code).toBe(1);
    expect(res.stdout).toContain(`${path.join(dir, '0002_drop_severity.sql')}:3:1 error drop-column: incidents.severity`);
    expect(res.stdout).toContain('breaks: the previous version still reads and writes this column');
    expect(res.stdout).toContain('instead: stop reading and writing the column in one release');
    expect(res.stdout).toMatch(/2 files: 1 violation, 0 for review, 0 notes, 0 waived$/m);
  });

  it('gives JSON for scripts', async () => {
    const dir = dirWith({ '0002_x.sql': 'UPDATE users SET role = NULL;\nALTER TABLE users RENAME TO people;' });
    const res = await tpctl(['migrate', 'lint', '--json', dir], {});
    expect(res.code).toBe(1);
    const report = JSON.parse(res.stdout) as { violations: number; notes: number; findings: { rule: string; line: number }[] };
    expect(report).toMatchObject({ violations: 1, notes: 1 });
    expect(report.findings.map((f) => [f.rule, f.line])).toEqual([
      ['backfill', 1],
      ['rename', 2],
    ]);
  });

  it('exits 2 on a file that does not parse, with the parser position', async () => {
    const dir = dirWith({ '0003_typo.sql': 'CREATE TABLE ok (a int);\nALTER TABLE users DROP COLUM name;\n' });
    const res = await tpctl(['migrate', 'lint', dir], {});
    expect(res.code).toBe(2);
    expect(res.stdout).toContain(`${path.join(dir, '0003_typo.sql')}:2:30 syntax error: syntax error at or near "name"`);
  });

  it('exits 2 on a path that does not exist', async () => {
    const res = await tpctl(['migrate', 'lint', '/nonexistent/migrations'], {});
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('no such file or directory: /nonexistent/migrations');
  });
});
