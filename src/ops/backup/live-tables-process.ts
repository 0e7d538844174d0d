/**
 * `node LEAN_PROCESS_FLAGS live-tables-process.js DIR 3>FILE`, its standard input a pipe: writes the tables of the
 * embedded database in DIR (embeddedTables) to descriptor 3, then ends. A restore runs it as a
 * process of its own: PGlite's WebAssembly memory is given back only when its process ends, and
 * the restore opens another instance for the backup right after.
 */
import { writeSync } from 'node:fs';
import { setImmediate } from 'node:timers/promises';
import { createPglite } from '../../db/embedded.js';
import { embeddedTables } from './embedded-dump.js';
import { endWithParent } from './parent-watch.js';

const [dir, ...rest] = process.argv.slice(2);
if (!dir || rest.length) {
  process.stderr.write('usage: live-tables-process.js DIR (the embedded database directory)\n');
  process.exit(2);
}
endWithParent();
try {
  const pg = await createPglite(dir);
  try {
    for await (const chunk of embeddedTables(pg)) {
      for (let written = 0; written < chunk.length;) written += writeSync(3, chunk, written);
      await setImmediate(); // PGlite answers in microtasks: without this, the close above is never heard
    }
  } finally {
    await pg.close();
  }
} catch (err) {
  // One line for the restore's message (PGlite's own errors come with pages of its source).
  process.stderr.write(`${String(err).split('\n')[0]}\n`);
  process.exitCode = 1;
}
