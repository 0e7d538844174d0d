const NEWLINE = 0x0a;
/** The statement that starts a COPY block of a plain-format dump; [1] is the table. */
export const COPY_START = /^COPY (\S+(?: \S+)*?) (?:\(.*\) )?FROM stdin;$/;

/**
 * Counts the rows of each COPY block of a pg_dump plain-format stream as it passes through,
 * so that the manifest's row counts come from the very snapshot that was dumped. In COPY text
 * format a row is one line (newlines in values are escaped) and `\.` ends the block.
 */
export class CopyRowCounter {
  readonly tables: Record<string, number> = {};
  private table: string | undefined;
  private carry: Buffer | undefined;

  feed(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const end = chunk.indexOf(NEWLINE, start);
      if (end < 0) break;
      if (this.carry) {
        this.line(Buffer.concat([this.carry, chunk.subarray(start, end)]), 0, this.carry.length + end - start);
        this.carry = undefined;
      } else {
        this.line(chunk, start, end);
      }
      start = end + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      this.carry = this.carry ? Buffer.concat([this.carry, rest]) : Buffer.from(rest);
    }
  }

  private line(buf: Buffer, start: number, end: number): void {
    if (this.table !== undefined) {
      if (end - start === 2 && buf[start] === 0x5c && buf[start + 1] === 0x2e) this.table = undefined;
      else this.tables[this.table] = (this.tables[this.table] ?? 0) + 1;
      return;
    }
    if (buf[start] !== 0x43 /* C */) return;
    const m = COPY_START.exec(buf.toString('utf8', start, end));
    if (m?.[1]) {
      this.table = m[1];
      this.tables[this.table] = 0;
    }
  }
}
