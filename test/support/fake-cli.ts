import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/**
 * kubectl and helm cannot run on these machines (no cluster, no helm binary). This stands in
 * for them as real executables on PATH, so the drivers run through the real Executor: each
 * call's argv is recorded, and answered with outputs copied from the tools' documentation and
 * test data (cited where the replies are written).
 */
export interface Reply {
  stdout?: string;
  stderr?: string;
  code?: number;
}

/**
 * Answers the calls whose argv holds each of `match`, with `replies` in turn (the last repeats).
 * A cluster changes as it is worked on: a rule may hold only in a phase (`when`, from the
 * start 'initial') and move to another once it has answered (`then`).
 */
export interface Rule {
  match: string[];
  replies: Reply[];
  when?: string;
  then?: string;
}

const SCRIPT = `#!${process.execPath}
const fs = require('node:fs');
const path = require('node:path');
const argv = [path.basename(__filename), ...process.argv.slice(2)];
fs.appendFileSync(path.join(__dirname, 'calls.jsonl'), JSON.stringify(argv) + '\\n');
const rules = JSON.parse(fs.readFileSync(path.join(__dirname, 'rules.json'), 'utf8'));
const phaseFile = path.join(__dirname, 'phase');
const phase = fs.existsSync(phaseFile) ? fs.readFileSync(phaseFile, 'utf8') : 'initial';
const i = rules.findIndex((r) => (r.when === undefined || r.when === phase) && r.match.every((m) => argv.includes(m)));
if (i < 0) {
  process.stderr.write('error: no reply recorded for: ' + argv.join(' ') + '\\n');
  process.exit(1);
}
const counter = path.join(__dirname, 'count-' + i);
const n = fs.existsSync(counter) ? Number(fs.readFileSync(counter, 'utf8')) : 0;
fs.writeFileSync(counter, String(n + 1));
const reply = rules[i].replies[Math.min(n, rules[i].replies.length - 1)];
if (rules[i].then) fs.writeFileSync(phaseFile, rules[i].then);
process.stdout.write(reply.stdout || '');
process.stderr.write(reply.stderr || '');
process.exitCode = reply.code || 0;
`;

export class FakeCli {
  readonly dir = mkdtempSync(path.join(tmpdir(), 'atlas-fake-cli-'));

  constructor(names: string[], rules: Rule[]) {
    writeFileSync(path.join(this.dir, 'rules.json'), JSON.stringify(rules));
    for (const name of names) {
      writeFileSync(path.join(this.dir, name), SCRIPT);
      chmodSync(path.join(this.dir, name), 0o755);
    }
  }

  /** PATH with the fakes first. */
  get path(): string {
    return `${this.dir}${path.delimiter}${process.env.PATH ?? ''}`;
  }

  /** Every call so far, in order, as argv. */
  calls(): string[][] {
    const file = path.join(this.dir, 'calls.jsonl');
    return existsSync(file)
      ? readFileSync(file, 'utf8')
          .trim()
          .split('\n')
          .map((line) => JSON.parse(line) as string[])
      : [];
  }
}
