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
const END_OF_COPY = Buffer.from('\n\\.\n');

/** Where the `\.` line that ends a COPY block starts, looking from line start `from`; -1 if not here. */
function endOfCopy(buf: Buffer, from: number): number {
  if (buf[from] === 0x5c && buf[from + 1] === 0x2e && buf[from + 2] === NEWLINE) return from;
  const at = buf.indexOf(END_OF_COPY, from);
  return at < 0 ? -1 : at + 1;
}

/**
 * Splits a pg_dump plain-format stream into statements, psql commands and COPY rows, handing
 * the rows of big tables out in pieces of about `pieceBytes` so that they can load in parallel.
 */
export async function* readDump(source: AsyncIterable<Buffer>, pieceBytes: number): AsyncGenerator<DumpItem> {
  let carry: Buffer = Buffer.alloc(0);
  let statement = '';
  let copy: { copy: string; table: string; data: Buffer[]; bytes: number } | undefined;
  for await (const chunk of source) {
    const buf: Buffer = carry.length ? Buffer.concat([carry, chunk]) : chunk;
    let pos = 0;
    while (pos < buf.length) {
      if (copy) {
        const end = endOfCopy(buf, pos);
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
      if (!line.trimEnd().endsWith(';') || !statementComplete(statement)) continue;
      const sql = statement.trim();
      statement = '';
      const table = COPY_START.exec(sql)?.[1];
      if (table) copy = { copy: sql, table, data: [], bytes: 0 };
      else yield { kind: 'statement', sql };
    }
    carry = buf.subarray(pos);
  }
  if (copy || statement.trim() || carry.length) throw new Error(`the backup ends in the middle of ${copy ? `the rows of ${copy.table}` : 'a statement'}`);
}
