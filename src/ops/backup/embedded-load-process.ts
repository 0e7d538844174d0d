/**
 * `node LEAN_PROCESS_FLAGS embedded-load-process.js JOB`, the backup's gzip bytes on descriptor 3, the
 * live data's dump (when there is live data) on descriptor 4, an IPC channel: loads
 * the backup into a new embedded cluster in JOB.dir (every statement checked first), counts its
 * rows, and when they are the backup's and JOB.compare is set, compares it with the live data
 * (carrying the rows created since with JOB.keepNew). It tells how far it has read (`{ read }`),
 * then answers `{ loaded }` or `{ error }`, and ends; the cluster is left closed in JOB.dir.
 *
 * A restore (and a restore test) runs it as a process of its own for its memory: two WebAssembly
 * modules (PGlite and the statement parser) are compiled in it, which it runs lean
 * (LEAN_PROCESS_FLAGS says how, and at what cost); their memory goes with the process.
 */
import { readDescriptor } from './checked-copy.js';
import { endWithParent } from './parent-watch.js';
import { errorKind, loadedEmbedded, type EmbeddedJob, type LoadAnswer } from './embedded-load-apart.js';

const send = (answer: LoadAnswer) =>
  new Promise<void>((resolve) => {
    if (!process.send) return resolve();
    process.send(answer, undefined, undefined, () => resolve());
  });

// The restore that started it is gone (its channel or its standard input closes): nothing would take what this finds.
const orphaned = () => process.exit(1);
process.on('disconnect', orphaned);
endWithParent();
const job = JSON.parse(process.argv[2] ?? 'null') as EmbeddedJob | null;
if (!job || !process.send) {
  process.stderr.write('usage: embedded-load-process.js JOB (started by a restore, with an IPC channel)\n');
  process.exit(2);
}
try {
  let read = 0;
  const backup = readDescriptor(3, (chunk) => process.send!({ read: (read += chunk.length) } satisfies LoadAnswer));
  await send({ loaded: await loadedEmbedded(job, backup, job.live ? readDescriptor(4) : undefined) });
} catch (err) {
  const e = err as Error & { code?: unknown };
  await send({ error: { kind: errorKind(err), message: e.message, code: typeof e.code === 'string' ? e.code : undefined } });
  process.exitCode = 1;
}
// Its answer is sent and the cluster closed: nothing is left to wait for (a timer PGlite left
// would otherwise keep the restore waiting on this process).
process.off('disconnect', orphaned);
process.exit();
