import type { Command, Executor } from '../core/exec.js';
import { PsqlSession } from './psql-session.js';

export interface Task {
  sql: readonly (string | Buffer)[];
  /** The objects it touches (names without schema); undefined: it may touch anything. */
  names: ReadonlySet<string> | undefined;
  /** A piece of a table's rows: PostgreSQL's COPY count is added to that table's. */
  rows?: { table: string; bytes: number };
  /** Tasks of the same kind here may run side by side on the same objects (pieces of rows, index builds). */
  sideBySide?: 'rows' | 'index';
}

interface Queued extends Task {
  running?: boolean;
}

/** Whether `later` must wait for `earlier`: they touch the same object, and may not share it. */
function mustWait(earlier: Task, later: Task): boolean {
  if (!earlier.names || !later.names) return true;
  if (earlier.sideBySide && earlier.sideBySide === later.sideBySide) return false;
  return [...later.names].some((name) => earlier.names!.has(name));
}

/**
 * Runs tasks over several psql sessions at once, each as soon as a session is free and every
 * earlier task it must wait for is done. Session settings (SET) reach every session before its
 * next task. The first failure stops everything.
 */
export class SessionPool {
  private readonly sessions: { psql: PsqlSession; settings: number; busy: boolean }[];
  private readonly settings: string[] = [];
  private readonly tasks: Queued[] = [];
  private readonly rows: Record<string, number> = {};
  private failure: Error | undefined;
  private notify: (() => void) | undefined;

  constructor(exec: Executor, command: Command, size: number) {
    this.sessions = Array.from({ length: size }, () => ({ psql: new PsqlSession(exec, command), settings: 0, busy: false }));
  }

  setting(sql: string): void {
    this.settings.push(sql);
  }

  add(task: Task): void {
    this.tasks.push(task);
    this.schedule();
  }

  /** Waits while more than `bytes` of rows wait for a session, so that reading stays just ahead. */
  async backlog(bytes: number): Promise<void> {
    const waiting = () => this.tasks.reduce((n, t) => n + (!t.running && t.rows ? t.rows.bytes : 0), 0);
    while (!this.failure && waiting() > bytes) await this.change();
    if (this.failure) throw this.failure;
  }

  /**
   * Waits for every task, telling `onStep` how many of those left are done; ends the sessions;
   * returns the rows PostgreSQL took per table.
   */
  async finish(onStep?: (done: number, total: number) => void): Promise<Record<string, number>> {
    const total = this.tasks.length;
    while (!this.failure && this.tasks.length) {
      onStep?.(total - this.tasks.length, total);
      await this.change();
    }
    if (this.failure) throw this.failure;
    await Promise.all(this.sessions.map((s) => s.psql.close()));
    return this.rows;
  }

  abort(): void {
    for (const session of this.sessions) session.psql.kill();
  }

  private change(): Promise<void> {
    return new Promise((resolve) => (this.notify = resolve));
  }

  private changed(): void {
    this.notify?.();
    this.notify = undefined;
  }

  private schedule(): void {
    for (const session of this.sessions.filter((s) => !s.busy)) {
      const task = this.tasks.find((t, i) => !t.running && !this.tasks.slice(0, i).some((earlier) => mustWait(earlier, t)));
      if (!task) return;
      task.running = session.busy = true;
      const sql = [...this.settings.slice(session.settings).map((s) => `${s}\n`), ...task.sql];
      session.settings = this.settings.length;
      session.psql.run(sql).then(
        (printed) => {
          if (task.rows) this.rows[task.rows.table] = (this.rows[task.rows.table] ?? 0) + Number(/^COPY (\d+)$/m.exec(printed.join('\n'))?.[1]);
          this.tasks.splice(this.tasks.indexOf(task), 1);
          session.busy = false;
          this.schedule();
          this.changed();
        },
        (err: Error) => {
          this.failure ??= err;
          this.changed();
        },
      );
    }
  }
}
