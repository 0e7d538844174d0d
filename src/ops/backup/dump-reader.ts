import { COPY_START } from './copy-rows.js';
import { statementComplete } from './sql-scan.js';

/** What a pg_dump plain-format stream is made of, in order. */
export type DumpItem =
  | { kind: 'statement'; sql: string }
  /** A psql command (`\restrict KEY`), which only psql understands. */
  | { kind: 'psql'; line: string }
  /** Some whole rows of one COPY block; the last piece of each block may be empty. */
  | { kind: 'rows'; copy: string; table: string; data: Buffer[]; bytes: number };

const NEWLINE = 0x0a;
const DOT_LINE = Buffer.from('\n\\.');

/**
 * The longest line or statement a backup may hold. The Tenant Plane never writes a row near it
 * (its API takes bodies of 256 KB at most, and a row dumps to at most twice its text), and a
 * restore holds one line in memory at a time.
 */
export const MAX_LINE_BYTES = 16 << 20;

export class DumpFormatError extends Error {}

const tooLong = () => new DumpFormatError(`the backup holds a line or statement of more than ${MAX_LINE_BYTES >> 20} MB, which the Tenant Plane never writes`);

/**
 * Where the `\.` line that ends a COPY block starts, looking from line start `from`; -1 if not
 * here. No row may start with `\.` (pg_dump escapes every backslash): psql would end the rows
 * there, maybe where this reader does not, and take the lines after them for commands.
 */
function endOfCopy(buf: Buffer, from: number, table: string): number {
  const at = buf[from] === 0x5c && buf[from + 1] === 0x2e ? from : buf.indexOf(DOT_LINE, from) + 1 || -1;
  if (at < 0 || at + 2 >= buf.length) return -1;
  if (buf[at + 2] !== NEWLINE) throw new DumpFormatError(`a row of ${table} starts with \\. (the end-of-rows mark) and goes on: pg_dump never writes that`);
  return at;
}

/**
 * Splits a pg_dump plain-format stream into statements, psql commands and COPY rows, handing
 * the rows of big tables out in pieces of about `pieceBytes` so that they can load in parallel.
 * Memory stays within a piece and one line, which may not exceed MAX_LINE_BYTES.
 */
export async function* readDump(source: AsyncIterable<Buffer>, pieceBytes: number): AsyncGenerator<DumpItem> {
  let carry: Buffer = Buffer.alloc(0);
  /** Chunks without a line end, joined once one comes: a long line is copied once, not once per chunk. */
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let statement = '';
  let copy: { copy: string; table: string; data: Buffer[]; bytes: number } | undefined;
  for await (const chunk of source) {
    if (chunk.indexOf(NEWLINE) < 0) {
      pending.push(chunk);
      if ((pendingBytes += chunk.length) + carry.length > MAX_LINE_BYTES) throw tooLong();
      continue;
    }
    const buf: Buffer = carry.length || pending.length ? Buffer.concat([carry, ...pending, chunk]) : chunk;
    pending = [];
    pendingBytes = 0;
    let pos = 0;
    while (pos < buf.length) {
      if (copy) {
        const end = endOfCopy(buf, pos, copy.table);
        const upTo = end >= 0 ? end : buf.lastIndexOf(NEWLINE) + 1;
        if (upTo > pos) {
          copy.data.push(buf.subarray(pos, upTo));
          copy.bytes += upTo - pos;
        }
        if (end >= 0) {
          yield { kind: 'rows', ...copy };
          copy = undefined;
          pos = end + 3;
        } else {
          pos = Math.max(pos, upTo);
          if (copy.bytes >= pieceBytes) {
            yield { kind: 'rows', ...copy };
            copy = { ...copy, data: [], bytes: 0 };
          }
          break;
        }
        continue;
      }
      const eol = buf.indexOf(NEWLINE, pos);
      if (eol < 0) break;
      const line = buf.toString('utf8', pos, eol);
      pos = eol + 1;
      if (!statement) {
        if (!line.trim() || line.startsWith('--')) continue;
        if (line.startsWith('\\')) {
          yield { kind: 'psql', line };
          continue;
        }
      }
      statement += `${line}\n`;
      if (statement.length > MAX_LINE_BYTES) throw tooLong();
      if (!line.trimEnd().endsWith(';') || !statementComplete(statement)) continue;
      const sql = statement.trim();
      statement = '';
      const table = COPY_START.exec(sql)?.[1];
      if (table) copy = { copy: sql, table, data: [], bytes: 0 };
      else yield { kind: 'statement', sql };
    }
    carry = buf.subarray(pos);
    if (carry.length > MAX_LINE_BYTES) throw tooLong();
  }
  if (copy || statement.trim() || carry.length || pending.length) {
    throw new DumpFormatError(`the backup ends in the middle of ${copy ? `the rows of ${copy.table}` : 'a statement'}`);
  }
}
