import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Database } from '../db/database.js';

/** The channel migration 0003's triggers announce each change on. */
const CHANNEL = 'atlas_changes';
/** An entry lives at most this long, however quiet the channel: memory turns over. */
const TTL_MS = 60_000;
/** Beyond this many entries, the oldest go first. */
const MAX_ENTRIES = 200_000;
/** How long `heard` waits for its own announcement before it forgets everything instead. */
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
  /** `heard` calls waiting for their own announcement, by its payload. */
  private readonly waiting = new Map<string, () => void>();

  constructor(private readonly db: Pick<Database, 'listen' | 'query'>) {
    this.stop = db.listen?.(CHANNEL, {
      message: (payload) => this.changed(payload),
      heard: (listening) => {
        this.listening = listening;
        this.forget(() => true);
        for (const done of this.waiting.values()) done();
      },
    });
  }

  /**
   * Resolves once every change committed so far has been heard here: the database delivers a
   * channel's announcements in commit order, so hearing one sent now means hearing all before it.
   * Other replicas hear them at the same moment, from the same commit.
   */
  async heard(): Promise<void> {
    if (!this.listening) return;
    const payload = `sync ${randomUUID()}`;
    const heard = new Promise<void>((resolve) => this.waiting.set(payload, resolve));
    const abandon = new AbortController();
    try {
      // Not sent, or not heard in time: whatever was missed, nothing kept can be stale.
      const sent = await this.db.query('SELECT pg_notify($1, $2)', [CHANNEL, payload]).then(() => true, () => false);
      const late = !sent || (await Promise.race([heard.then(() => false), sleep(HEARD_WITHIN_MS, true, { signal: abandon.signal }).catch(() => false)]));
      if (late) this.forget(() => true);
    } finally {
      abandon.abort();
      this.waiting.delete(payload);
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
    if (kind === 'sync') return this.waiting.get(payload)?.();
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
