import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';

/**
 * The shell blocks of a Markdown guide, as its doc test runs them. A block's info string names
 * the runtimes it is run on, and optionally its exit code: "```sh compose local exit=1". Comment
 * lines say what it prints: `# Output: TEXT` (one line), or `# Output:` / `# Output example:`
 * followed by comment lines (shapes; see `matchesShape`).
 */
export interface ShellBlock {
  /** Line of the opening fence, 1-based, for messages. */
  line: number;
  runtimes: string[];
  exit: number;
  script: string;
  expected: Expected[];
}

export interface Expected {
  text: string;
  /** A shape (a line under an Output heading), not a line given in full. */
  shape: boolean;
}

const SHELL = new Set(['sh', 'bash', 'shell', 'console']);

export function shellBlocks(markdown: string): ShellBlock[] {
  const blocks: ShellBlock[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*(.*)$/.exec(lines[i]!);
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    while (++i < lines.length && !lines[i]!.startsWith('```')) body.push(lines[i]!);
    if (!SHELL.has(open[1]!)) continue;
    const words = open[2]!.split(/\s+/).filter(Boolean);
    const runtimes = words.filter((w) => !w.includes('='));
    if (runtimes.length === 0) throw new Error(`line ${start + 1}: a shell block must name the runtimes it runs on (\`\`\`sh compose local)`);
    const exit = words.find((w) => w.startsWith('exit='));
    blocks.push({ line: start + 1, runtimes, exit: exit ? Number(exit.slice(5)) : 0, script: body.join('\n'), expected: expectedLines(body) });
  }
  return blocks;
}

function expectedLines(body: string[]): Expected[] {
  const expected: Expected[] = [];
  let under = false;
  for (const line of body) {
    const heading = /^# Output(?: example)?:\s*(.*)$/.exec(line);
    if (heading) {
      if (heading[1]) expected.push({ text: heading[1], shape: false });
      under = true;
    } else if (under && line.startsWith('# ')) expected.push({ text: line.slice(2), shape: true });
    else under = false;
  }
  return expected;
}

const STAMP = /\d{8}T\d{6}/g;
/** `ls -l`'s columns before the name: mode, links, owner, group, size, date. */
const LISTING = /^[-dlcbps][-rwxsStT]{9}[.+@]?\s+\d+\s+\S+\s+\S+\s+\S+\s+\S+\s+\S+\s+\S+\s+(.+)$/;

export const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A line given in full: `<...>` stands for any text. */
export function matchesLine(expected: string, actual: string): boolean {
  const pattern = expected
    .split(/<[^<>]+>/)
    .map(escapeRegExp)
    .join('.*?');
  return new RegExp(`^${pattern}$`).test(actual);
}

/** A shape: as a line given in full, a UTC time standing for any, a listing compared by its file name. */
export function matchesShape(expected: string, actual: string): boolean {
  const name = (s: string) => {
    const listed = LISTING.exec(s)?.[1];
    return listed ? path.basename(listed) : s;
  };
  const general = (s: string) => s.replace(STAMP, '<time>');
  return matchesLine(general(name(expected)), name(actual));
}

/** The expected lines missing from what a block printed, in order: empty when all are there. */
export function missingLines(expected: Expected[], printed: string): Expected[] {
  const lines = printed.split('\n');
  let at = 0;
  const missing: Expected[] = [];
  for (const e of expected) {
    const found = lines.findIndex((l, i) => i >= at && (e.shape ? matchesShape(e.text, l) : matchesLine(e.text, l)));
    if (found < 0) missing.push(e);
    else at = found + 1;
  }
  return missing;
}

/**
 * A file name with a UTC time that does not exist stands for the newest file of that name with
 * another time (`db-backup-1.2.2-20260326T100000.sql.gz`, `upgrade-<timestamp>.log`): the
 * guide's example names made true on this machine.
 */
export function newestLike(file: string): string {
  const dir = path.dirname(file);
  const base = path.basename(file);
  const stamp = /\d{8}T\d{6}|<timestamp>/.exec(base);
  if (!stamp) return file;
  const [before, after] = [base.slice(0, stamp.index), base.slice(stamp.index + stamp[0].length)];
  const shaped = new RegExp(`^${escapeRegExp(before)}\\d{8}T\\d{6}${escapeRegExp(after)}$`);
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => shaped.test(n));
  } catch {
    return file;
  }
  if (names.includes(base) || names.length === 0) return file;
  const newest = names.sort((a, b) => statSync(path.join(dir, a)).mtimeMs - statSync(path.join(dir, b)).mtimeMs || a.localeCompare(b)).at(-1)!;
  return path.join(dir, newest);
}
