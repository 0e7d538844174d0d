/**
 * The errors every layer may throw, and what to do next, as data: `cli/` words them, and maps
 * each to its documented exit code. Nothing here names a flag, a variable or a script.
 */

/** A setting the operator can change, by what it means (the CLI knows its variable). */
export type Setting = 'database' | 'log-dir' | 'image' | 'compose-file' | 'backup-key-file';

/** What to do next, as data; the CLI turns it into the command to type. */
export type Next =
  | { do: 'rollback'; to?: string | undefined }
  /** The restore path: the newest backup taken at or before `to` (undefined: none in `backupDir`). */
  | { do: 'rollback-restoring'; to: string; backup: string | undefined; backupDir: string }
  | { do: 'upgrade'; to: string }
  | { do: 'name-rollback-target'; available: string[] }
  | { do: 'skip-backup' }
  | { do: 'skip-rehearsal' }
  | { do: 'set'; setting: Setting }
  | { do: 'restore-undo' }
  | { do: 'manual-restore' }
  | { do: 'stop-tenant-plane' }
  | { do: 'start-local'; naming?: 'version' }
  | { do: 'add-release' }
  | { do: 'build-image'; version: string }
  | { do: 'status' }
  | { do: 'read-log'; log: string };

/** Refused before anything changed: bad input, or a set-up that cannot be worked on as asked. */
export class Refused extends Error {
  constructor(
    message: string,
    readonly next: Next[] = [],
  ) {
    super(message);
  }
}

/** Failed, and nothing was changed (or it was put back). */
export class Failed extends Error {
  constructor(
    message: string,
    readonly next: Next[] = [],
  ) {
    super(message);
  }
}
