import type { Socket } from 'node:net';

/**
 * For a process a restore starts (the live data's dump, the embedded load): its standard input
 * is a pipe from the restore, which closes if the restore is killed; this process then ends too,
 * rather than go on with a directory another process may have taken since.
 */
export function endWithParent(): void {
  process.stdin.on('close', () => process.exit(1)).resume();
  // Not a reason to stay alive once the work is done.
  (process.stdin as Partial<Socket>).unref?.();
}
