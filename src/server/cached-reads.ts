import { randomUUID } from 'node:crypto';
import type { Database } from '../db/database.js';

/** The channel migration 0003's triggers announce each change on. */
const CHANNEL = 'atlas_changes';
/** What pg_stat_activity shows as the last statement of a connection listening on it (`Database.listen` runs nothing else). */
const LISTEN = `LISTEN ${CHANNEL}`;
/** An entry lives at most this long, however quiet the channel: memory turns over. */
const TTL_MS = 60_000;
/** Beyond this many entries, the oldest go first. */
const MAX_ENTRIES = 200_000;
/** How long `heard` waits for every replica's answer before it forgets everything instead. */
const HEARD_WITHIN_MS = 1_000;

/** Sessions, API tokens and agent credentials found valid (by their hash), and the settings (all at once). */
export type CachedKind = 'session' | 'token' | 'agent' | 'settings';

/**
 * What almost every request reads and little changes, kept in memory so that a request needs no
 * query of its own: the credentials found valid, and the settings. Only while every change is
 * heard: the database announces each one (its triggers, whoever writes), and what changed is
 * forgotten at once; while the channel is down (or on the embedded database, which has none),
 * every lookup goes to the database. A change announced while a lookup runs keeps that lookup's
 * answer out of the cache, and a write is answered only once its announcements are heard (`heard`).
 */
export class CachedReads {
  private readonly entries = new Map<string, { value: unknown; until: number }>();
  /** Moves with every change heard: a lookup that started before one does not store its answer. */
  private generation = 0;
  private listening = false;
  private readonly stop: (() => Promise<void>) | undefined;
  /** `heard` calls waiting for the answers to their sync, by its nonce: `done(true)` once all have come (or nothing is kept any more). */
  private readonly waiting = new Map<string, { answers: number; needed: number; done: (heard: boolean) => void }>();

  constructor(private readonly db: Pick<Database, 'listen' | 'query'>) {
    this.stop = db.listen?.(CHANNEL, {
      message: (payload) => this.changed(payload),
      heard: (listening) => {
        this.listening = listening;
        this.forget(() => true);
        for (const wait of this.waiting.values()) wait.done(true); // nothing kept: nothing to wait for
      },
    });
  }

  /**
   * Resolves once every replica has heard every change committed so far. It announces a sync
   * and waits until each connection listening on the channel has answered it: PostgreSQL
   * delivers a channel's announcements in commit order, and a replica answers a sync once it has
   * dealt with all that came before it. A replica that does not answer within HEARD_WITHIN_MS
   * (stopped, or its connection lost) is not waited for any longer; this one then forgets everything.
   */
  async heard(): Promise<void> {
    if (!this.listening) return;
    const nonce = randomUUID();
    const wait = { answers: 0, needed: Infinity, done: (_heard: boolean) => {} };
    let timer: NodeJS.Timeout | undefined;
    const heard = new Promise<boolean>((resolve) => {
      wait.done = resolve;
      timer = setTimeout(() => resolve(false), HEARD_WITHIN_MS);
    });
    this.waiting.set(nonce, wait);
    try {
      const sent = await this.db
        .query<{ listeners: number }>(
          `SELECT pg_notify($1, $2), (SELECT count(*)::int FROM pg_stat_activity WHERE datname = current_database() AND query = $3) AS listeners`,
          [CHANNEL, `sync ${nonce}`, LISTEN],
        )
        .catch(() => undefined);
      // At least this replica's own answer (pg_stat_activity may not show statements: track_activities off).
      wait.needed = Math.max(1, sent?.[0]?.listeners ?? 1);
      if (wait.answers >= wait.needed) wait.done(true);
      // Not sent, or not answered in time: whatever was missed, nothing kept can be stale.
      if (!sent || !(await heard)) this.forget(() => true);
    } finally {
      clearTimeout(timer);
      this.waiting.delete(nonce);
    }
  }

  /** The entry, or what `load` finds (kept when it finds one and nothing changed meanwhile). */
  async lookup<T extends object>(kind: CachedKind, id: string, load: () => Promise<T | undefined>): Promise<T | undefined> {
    const key = `${kind} ${id}`;
    const hit = this.entries.get(key);
    if (hit && hit.until > Date.now()) return hit.value as T;
    const generation = this.generation;
    const value = await load();
    if (value !== undefined && this.listening && generation === this.generation) {
      this.entries.delete(key);
      this.entries.set(key, { value, until: Date.now() + TTL_MS });
      if (this.entries.size > MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value!);
    }
    return value;
  }

  close(): Promise<void> {
    return this.stop?.() ?? Promise.resolve();
  }

  /** "<kind> <id>": that one; "<kind>": all of the kind; "user": every session, token and the settings (they carry their user). */
  private changed(payload: string): void {
    const [kind, id] = payload.split(' ', 2);
    // Everything announced before a sync has been dealt with by now: answer it.
    if (kind === 'sync') return void this.db.query('SELECT pg_notify($1, $2)', [CHANNEL, `heard ${id}`]).catch(() => {});
    if (kind === 'heard') {
      const wait = this.waiting.get(id ?? '');
      if (wait && ++wait.answers >= wait.needed) wait.done(true);
      return;
    }
    if (id !== undefined) {
      this.generation++;
      this.entries.delete(`${kind} ${id}`);
      return;
    }
    const kinds = kind === 'user' ? ['session', 'token', 'settings'] : [kind];
    this.forget((key) => kinds.includes(key.slice(0, key.indexOf(' '))));
  }

  private forget(which: (key: string) => boolean): void {
    this.generation++;
    for (const key of this.entries.keys()) if (which(key)) this.entries.delete(key);
  }
}
