import { readFileSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { appRoot } from '../../src/shared/app-root.js';
import { matchesLine, matchesShape, missingLines, newestLike, shellBlocks } from '../support/guide-blocks.js';
import { tempDir } from '../support/temp.js';

const guide = readFileSync(path.join(appRoot, 'docs', 'operations', 'rollback-and-recovery.md'), 'utf8');

/** The operator guide's commands (the contract), each to be found in a shell block of ours, character for character. */
const CONTRACT_COMMANDS = [
  'ls -lt /var/log/atlas/upgrade-*.log | head -1',
  'cat /var/log/atlas/upgrade-<timestamp>.log',
  'cat ./data/.atlas-upgrade-history',
  'cat ./data/.atlas-previous-version',
  'docker images atlasai/tenant-plane --format "table {{.Tag}}\\t{{.CreatedAt}}" | sort',
  'bash scripts/rollback-tp.sh',
  'ATLAS_VERSION=1.2.2 bash scripts/rollback-tp.sh',
  'docker compose exec tenant-plane cat /app/.atlas-version',
  'curl -s http://localhost:3000/api/health',
  'kubectl rollout undo deployment/atlasai-tp -n atlasai',
  'kubectl rollout status deployment/atlasai-tp -n atlasai',
  'kubectl get pods -n atlasai -l app=atlasai-tp',
  'kubectl rollout history deployment/atlasai-tp -n atlasai',
  'kubectl rollout undo deployment/atlasai-tp --to-revision=3 -n atlasai',
  'helm history atlasai-tp -n atlasai',
  'helm rollback atlasai-tp -n atlasai',
  'helm rollback atlasai-tp 2 -n atlasai --wait',
  'docker compose stop tenant-plane',
  'kubectl scale deployment/atlasai-tp --replicas=0 -n atlasai',
  'ls -lh /var/log/atlas/db-backup-*.sql.gz',
  'RESTORE_DB=1 \\\nDB_BACKUP_FILE=/var/log/atlas/db-backup-1.2.2-20260326T100000.sql.gz \\\nDB_URL=postgresql://atlasusr:password@localhost:5432/atlas \\\nbash scripts/rollback-tp.sh',
  'zcat /var/log/atlas/db-backup-1.2.2-20260326T100000.sql.gz \\\n  | psql postgresql://atlasusr:password@localhost:5432/atlas',
  'docker compose up -d tenant-plane',
  'kubectl scale deployment/atlasai-tp --replicas=3 -n atlasai',
];

describe("the operator guide's shell blocks", () => {
  const blocks = shellBlocks(guide);

  it("hold every command of the operator guide's contract, character for character", () => {
    const scripts = blocks.map((b) => b.script).join('\n');
    expect(CONTRACT_COMMANDS.filter((c) => !scripts.includes(c))).toEqual([]);
  });

  it('each names runtimes the doc test knows, and the runnable ones are Compose and the local runtime', () => {
    expect(blocks.length).toBeGreaterThan(20);
    expect([...new Set(blocks.flatMap((b) => b.runtimes))].sort()).toEqual(['compose', 'helm', 'kubernetes', 'local', 'systemd']);
    // The release that fails to start: rolled back by itself without a rehearsal, refused by one.
    expect(blocks.filter((b) => b.exit !== 0).map((b) => [b.exit, b.runtimes, b.script.split('\n')[0]])).toEqual([
      [1, ['local'], 'ATLAS_VERSION=1.3.2 bash scripts/upgrade-tp.sh'],
      [2, ['compose'], 'ATLAS_VERSION=1.3.2 bash scripts/upgrade-tp.sh'],
    ]);
  });

  it("the local runtime's walkthrough runs in a checkout, its systemd part where systemd runs", () => {
    const walkthrough = shellBlocks(readFileSync(path.join(appRoot, 'docs', 'operations', 'local-runtime.md'), 'utf8'));
    expect([...new Set(walkthrough.flatMap((b) => b.runtimes))].sort()).toEqual(['checkout', 'systemd']);
  });

  it('a shell block that names no runtime is refused, so none escapes the doc test; other languages are not run', () => {
    expect(() => shellBlocks('text\n\n```sh\nrm -rf data\n```\n')).toThrow(/line 3: a shell block must name the runtimes it runs on/);
    expect(shellBlocks('```json\n{"a": 1}\n```\n```\nplain\n```\n')).toEqual([]);
  });

  it('reads what a block says it prints: a line after "# Output:", or the lines below an Output heading as shapes', () => {
    const [block] = shellBlocks('```sh local exit=1\ncat a\n# Output: 1.2.2\ncat b\n# Output example:\n# x 20260326T100000\n# y\n\n# not output\n```\n');
    expect(block).toMatchObject({ line: 1, runtimes: ['local'], exit: 1 });
    expect(block!.expected).toEqual([
      { text: '1.2.2', shape: false },
      { text: 'x 20260326T100000', shape: true },
      { text: 'y', shape: true },
    ]);
  });
});

describe('matching what a block printed', () => {
  it('a line given in full matches whole, <...> standing for any text', () => {
    expect(matchesLine('upgraded 1.2.2 -> 1.3.0 in <seconds> s; ok', 'upgraded 1.2.2 -> 1.3.0 in 3.2 s; ok')).toBe(true);
    expect(matchesLine('upgraded 1.2.2 -> 1.3.0 in <seconds> s', 'upgraded 1.2.2 -> 1.3.1 in 3.2 s')).toBe(false);
    expect(matchesLine('1.2.2', 'version 1.2.2')).toBe(false);
    expect(matchesLine('a (b) [c] *d*', 'a (b) [c] *d*')).toBe(true);
  });

  it('a shape lets a UTC time be any, and compares an ls -l line by its file name', () => {
    expect(
      matchesShape(
        '20260326T100000 1.2.2 -> 1.3.0 SUCCESS log:/l/upgrade-20260326T100000.log',
        '20261205T175754 1.2.2 -> 1.3.0 SUCCESS log:/l/upgrade-20261205T175754.log',
      ),
    ).toBe(true);
    expect(matchesShape('20260326T100000 1.2.2 -> 1.3.0 SUCCESS', '20261205T175754 1.2.2 -> 1.3.0 FAILED')).toBe(false);
    const example = '-rw-r--r-- 1 user user 45M Mar 26 10:00 db-backup-1.2.2-20260326T100000.sql.gz';
    expect(matchesShape(example, '-rw------- 1 root root 4.5K Dec  5 18:00 /tmp/x/logs/db-backup-1.2.2-20261205T180005.sql.gz')).toBe(true);
    expect(matchesShape(example, '-rw------- 1 root root 4.5K Dec  5 18:00 /tmp/x/logs/db-backup-1.3.0-20261205T180005.sql.gz')).toBe(false);
  });

  it('every expected line must be printed, in the order given', () => {
    const expected = [
      { text: 'one', shape: false },
      { text: 'two', shape: false },
    ];
    expect(missingLines(expected, 'zero\none\ntwo\n')).toEqual([]);
    expect(missingLines(expected, 'two\none\n')).toEqual([{ text: 'two', shape: false }]);
  });

  it('an example file name with a UTC time stands for the newest such file; a name that exists is itself', () => {
    const dir = tempDir();
    const older = path.join(dir, 'db-backup-1.2.2-20261205T100000.sql.gz');
    const newer = path.join(dir, 'db-backup-1.2.2-20261205T110000.sql.gz');
    writeFileSync(older, '');
    writeFileSync(newer, '');
    writeFileSync(path.join(dir, 'db-backup-1.3.0-20261205T120000.sql.gz'), '');
    utimesSync(older, 1, 1);
    expect(newestLike(path.join(dir, 'db-backup-1.2.2-20260326T100000.sql.gz'))).toBe(newer);
    expect(newestLike(path.join(dir, 'db-backup-1.2.2-<timestamp>.sql.gz'))).toBe(newer);
    expect(newestLike(older)).toBe(older);
    expect(newestLike(path.join(dir, 'upgrade-20260326T100000.log'))).toBe(path.join(dir, 'upgrade-20260326T100000.log'));
  });
});
