import { describe, expect, it } from 'vitest';
import { Refused } from '../../../src/ops/core/errors.js';
import { describeRelease, parseDeclared, parseReleaseMetadata } from '../../../src/ops/core/release-metadata.js';
import { migrationsDir as migrations } from '../../support/temp.js';

const ADD = { '0001_widgets.sql': 'CREATE TABLE widgets (id int PRIMARY KEY, colour text);\n' };
const WAIVED_DROP = { ...ADD, '0002_drop_colour.sql': '-- atlas:allow drop-column the colour was never shown\nALTER TABLE widgets DROP COLUMN colour;\n' };

describe('release metadata', () => {
  it("completes the declared metadata with each migration's checksum and verdict", async () => {
    const m = await describeRelease('2.0.0', { minimumUpgradeFrom: '1.3.0' }, migrations(ADD));
    expect(m).toEqual({
      format: 'atlas-release-1',
      version: '2.0.0',
      minimumUpgradeFrom: '1.3.0',
      oldestRollbackWithoutRestore: null,
      migrations: [{ name: '0001_widgets.sql', checksum: expect.stringMatching(/^[0-9a-f]{64}$/) as unknown, verdict: 'additive', waivedRules: [] }],
    });
  });

  it('names the waived rules, and the release itself as the oldest version to roll back to without a restore', async () => {
    const m = await describeRelease('1.3.1', { minimumUpgradeFrom: null }, migrations(WAIVED_DROP));
    expect(m.migrations.map((x) => [x.name, x.verdict, x.waivedRules])).toEqual([
      ['0001_widgets.sql', 'additive', []],
      ['0002_drop_colour.sql', 'waived', ['drop-column']],
    ]);
    expect(m.oldestRollbackWithoutRestore).toBe('1.3.1');
  });

  it.each([
    [
      'a violation without a waiver',
      { ...ADD, '0002_drop.sql': 'ALTER TABLE widgets DROP COLUMN colour;\n' },
      /do not pass the lint \(1 violations, 0 not parsed\)/,
    ],
    ['a statement that does not parse', { ...ADD, '0002_bad.sql': 'ALTER TABLE widgets ADD COLUMN;\n' }, /do not pass the lint \(0 violations, 1 not parsed\)/],
  ])('refuses to describe a release with %s: it must not ship', async (_what, files, message) => {
    await expect(describeRelease('1.3.1', { minimumUpgradeFrom: null }, migrations(files))).rejects.toThrow(message);
  });

  it("ships the project's own migrations as additive", async () => {
    const m = await describeRelease('1.3.0', { minimumUpgradeFrom: '1.2.0' });
    expect(m.migrations.length).toBeGreaterThan(0);
    expect(m.migrations.every((x) => x.verdict === 'additive')).toBe(true);
  });

  it('reads back what it writes', async () => {
    const m = await describeRelease('1.3.1', { minimumUpgradeFrom: '1.2.0' }, migrations(WAIVED_DROP));
    expect(parseReleaseMetadata(JSON.stringify(m), 'release.json')).toEqual(m);
  });

  it.each([
    ['not JSON', '{', 'x: is not valid JSON'],
    ['a list', '[]', 'x: is not a JSON object'],
    ['another format', '{"format":"v0"}', 'x: format is not atlas-release-1'],
    ['a bad version', '{"format":"atlas-release-1","version":"latest","migrations":[]}', 'x: version is not a release version'],
    [
      'a bad minimumUpgradeFrom',
      '{"format":"atlas-release-1","version":"1.3.0","minimumUpgradeFrom":"$(id)","migrations":[]}',
      'x: minimumUpgradeFrom is "$(id)", not a release version such as 1.3.0',
    ],
    ['migrations that are not a list', '{"format":"atlas-release-1","version":"1.3.0","migrations":{}}', 'x: migrations is not a list'],
    [
      'a bad checksum',
      '{"format":"atlas-release-1","version":"1.3.0","migrations":[{"name":"a.sql","checksum":"x","verdict":"additive","waivedRules":[]}]}',
      'x: a migration entry is not {name, checksum, verdict, waivedRules}',
    ],
    [
      'a waived verdict with no rule',
      `{"format":"atlas-release-1","version":"1.3.0","migrations":[{"name":"a.sql","checksum":"${'a'.repeat(64)}","verdict":"waived","waivedRules":[]}]}`,
      'x: a migration entry is not {name, checksum, verdict, waivedRules}',
    ],
  ])('refuses shipped metadata that is %s', (_what, text, message) => {
    expect(() => parseReleaseMetadata(text, 'x')).toThrow(new Refused(message.replace('x: is', 'x is')));
  });

  it("reads the repository's release.json as declared, and refuses anything else in it", () => {
    expect(parseDeclared('{"minimumUpgradeFrom": "1.2.0"}', 'release.json')).toEqual({ minimumUpgradeFrom: '1.2.0' });
    expect(parseDeclared('{}', 'release.json')).toEqual({ minimumUpgradeFrom: null });
    expect(() => parseDeclared('{"minimumUpgradeFrom": "1.2"}', 'release.json')).toThrow(
      'release.json: minimumUpgradeFrom is "1.2", not a release version such as 1.3.0',
    );
    expect(() => parseDeclared('{"minimumUpgradeFrom": "1.2.0", "version": "9.9.9"}', 'release.json')).toThrow(
      'release.json: unknown field version (only minimumUpgradeFrom is declared; the build completes the rest)',
    );
  });
});
