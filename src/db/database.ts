export type Row = Record<string, unknown>;

/** Something SQL can be sent to: the database, one held connection, or a transaction. */
export interface Queryable {
  /** One statement with `$1`-style parameters; returns its rows. */
  query<R extends Row = Row>(sql: string, params?: readonly unknown[]): Promise<R[]>;
  /** A script of several statements, no parameters (migrations, restores). */
  exec(sql: string): Promise<void>;
}

/**
 * The Tenant Plane's database: a PostgreSQL server through a pool, or the embedded PostgreSQL
 * (PGlite) in the data directory. Both speak the same SQL and run the same migrations.
 */
export interface Database extends Queryable {
  readonly kind: 'postgres' | 'embedded';
  /** Where the data lives, safe to log (no password). */
  readonly location: string;
  /** Runs `fn` in a transaction on one connection; commits, or rolls back on a throw. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Runs `fn` on one connection held throughout (session-level advisory locks). */
  session<T>(fn: (conn: Queryable) => Promise<T>): Promise<T>;
  /**
   * PostgreSQL only: LISTENs on `channel` on a connection of its own, reconnecting when it is
   * lost. `heard(false)` says notifications may have been missed (the connection was lost);
   * `heard(true)` that each one is heard again. Returns how to stop.
   */
  listen?(channel: string, on: { message: (payload: string) => void; heard: (listening: boolean) => void }): () => Promise<void>;
  close(): Promise<void>;
}
