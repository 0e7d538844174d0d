import { loadModule, parseSync, scanSync, type Node } from 'libpg-query';
import { NO_TRANSACTION_RE } from '../directives.js';

/**
 * A migration file as the real PostgreSQL parser sees it: its statements with their positions,
 * the `-- atlas:allow` waivers attached to each, and the `-- atlas:no-transaction` directive.
 * The parser counts in UTF-8 bytes; everything here is reported in lines and characters.
 */

export interface Position {
  line: number;
  column: number;
}

export interface Waiver extends Position {
  rule: string;
  reason: string;
}

export interface Statement extends Position {
  node: Node;
  /** The statement's text, from its first token to its end. */
  text: string;
  waivers: Waiver[];
}

export interface MigrationSource {
  statements: Statement[];
  /** First line `-- atlas:no-transaction`: the runner applies it statement by statement. */
  noTransaction: boolean;
}

export class SqlSyntaxError extends Error {
  constructor(
    message: string,
    readonly position: Position,
  ) {
    super(message);
  }
}

const WAIVER_RE = /^--\s*atlas:allow\b\s*(\S*)\s*(.*)$/;

class ByteText {
  private readonly bytes: Buffer;
  private readonly lineStarts: number[] = [0];

  constructor(readonly text: string) {
    this.bytes = Buffer.from(text);
    for (let i = 0; i < this.bytes.length; i++) if (this.bytes[i] === 0x0a) this.lineStarts.push(i + 1);
  }

  slice(start: number, end: number): string {
    return this.bytes.subarray(start, end).toString();
  }

  position(byte: number): Position {
    let lo = 0;
    let hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.lineStarts[mid] ?? 0) <= byte) lo = mid;
      else hi = mid - 1;
    }
    const lineStart = this.lineStarts[lo] ?? 0;
    return { line: lo + 1, column: this.slice(lineStart, byte).length + 1 };
  }
}

/** Parses a migration; throws SqlSyntaxError with the parser's position when it does not parse. */
export function readMigration(sql: string): MigrationSource {
  const text = new ByteText(sql);
  let parsed;
  try {
    parsed = parseSync(sql);
  } catch (err) {
    const cursor = (err as { sqlDetails?: { cursorPosition?: number } }).sqlDetails?.cursorPosition ?? 0;
    throw new SqlSyntaxError((err as Error).message, text.position(cursor));
  }
  const tokens = scanSync(sql).tokens;
  const comments = tokens.filter((t) => t.tokenName === 'SQL_COMMENT');
  const code = tokens.filter((t) => t.tokenName !== 'SQL_COMMENT' && t.tokenName !== 'C_COMMENT');

  const spans = (parsed.stmts ?? []).map((raw) => {
    const from = raw.stmt_location ?? 0;
    const end = raw.stmt_len ? from + raw.stmt_len : Buffer.byteLength(sql);
    // stmt_location may include the comments and blanks before the statement: start at its first token.
    const start = code.find((t) => t.start >= from)?.start ?? from;
    const terminator = code.find((t) => t.start >= end);
    const last = terminator?.text === ';' ? terminator.end : end;
    return { node: raw.stmt as Node, start, end, last };
  });

  const statements: Statement[] = spans.map((s) => ({ node: s.node, text: text.slice(s.start, s.end).trim(), waivers: [], ...text.position(s.start) }));

  // A waiver belongs to the statement it trails on the same line, else to the next statement.
  for (const comment of comments) {
    const m = WAIVER_RE.exec(comment.text);
    if (!m) continue;
    const at = text.position(comment.start);
    const trailing = spans.findIndex((s) => s.last <= comment.start && text.position(s.last).line === at.line);
    const next = spans.findIndex((s) => s.last > comment.start);
    const index = trailing >= 0 ? trailing : next;
    statements[index >= 0 ? index : statements.length - 1]?.waivers.push({ rule: m[1] ?? '', reason: (m[2] ?? '').trim(), ...at });
  }

  return { statements, noTransaction: NO_TRANSACTION_RE.test(sql) };
}

/** The statements' texts, for running a no-transaction migration one statement at a time. */
export async function splitMigration(sql: string): Promise<string[]> {
  await loadModule();
  return readMigration(sql).statements.map((s) => s.text);
}
