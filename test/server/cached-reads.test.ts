import { describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/database.js';
import { CachedReads } from '../../src/server/cached-reads.js';

/**
 * A database whose LISTEN the test drives: what it announces, and whether the channel is up.
 * Like PostgreSQL, it delivers what this replica sends on the channel back to it (unless
 * `echo` is false), and counts `listeners` connections listening (this one and others).
 */
function fakeDatabase(options: { failQuery?: boolean; echo?: boolean; listeners?: number } = {}) {
  let on: Parameters<NonNullable<Database['listen']>>[1] | undefined;
  const sent: string[] = [];
  const db: Pick<Database, 'listen' | 'query'> = {
    listen(_channel, handlers) {
      on = handlers;
      return async () => {};
    },
    async query<R>(_sql: string, params: readonly unknown[] = []) {
      if (options.failQuery) throw new Error('connection terminated');
      const payload = String(params[1]);
      sent.push(payload);
      if (options.echo !== false) queueMicrotask(() => on?.message(payload));
      return [{ listeners: options.listeners ?? 1 }] as R[];
    },
  };
  return {
    db,
    sent,
    announce: (payload: string) => on!.message(payload),
    up: (listening: boolean) => on!.heard(listening),
  };
}

/** A lookup that counts how often it went to the database. */
function counted<T extends object>(value: T | undefined) {
  const calls = { n: 0 };
  return { calls, load: async () => (calls.n++, value) };
}

describe('CachedReads', () => {
  it('goes to the database every time while the channel is not up (and on a database without one)', async () => {
    const fake = fakeDatabase();
    const cache = new CachedReads(fake.db);
    const { calls, load } = counted({ user: 'a' });
    await cache.lookup('session', 'h1', load);
    await cache.lookup('session', 'h1', load);
    expect(calls.n).toBe(2);

    const withoutListen = new CachedReads({ query: fake.db.query });
    await withoutListen.lookup('session', 'h1', load);
    await withoutListen.lookup('session', 'h1', load);
    expect(calls.n).toBe(4);
    await withoutListen.heard(); // nothing is kept, so nothing to wait for
    await cache.heard(); // the channel is not up: the same
    expect(fake.sent).toEqual([]);
  });

  it('keeps what it found while the channel is up; not what it did not find', async () => {
    const fake = fakeDatabase();
    const cache = new CachedReads(fake.db);
    fake.up(true);
    const found = counted({ user: 'a' });
    expect(await cache.lookup('session', 'h1', found.load)).toEqual({ user: 'a' });
    expect(await cache.lookup('session', 'h1', found.load)).toEqual({ user: 'a' });
    expect(found.calls.n).toBe(1);
    const missing = counted<object>(undefined);
    await cache.lookup('session', 'nope', missing.load);
    await cache.lookup('session', 'nope', missing.load);
    expect(missing.calls.n).toBe(2);
  });

  it('forgets one credential on its announcement; "user" forgets every session, token and the settings, not agents', async () => {
    const fake = fakeDatabase();
    const cache = new CachedReads(fake.db);
    fake.up(true);
    const loads = { session: counted({ s: 1 }), other: counted({ s: 2 }), token: counted({ t: 1 }), agent: counted({ a: 1 }), settings: counted({ all: [] }) };
    const all = async () => {
      await cache.lookup('session', 'h1', loads.session.load);
      await cache.lookup('session', 'h2', loads.other.load);
      await cache.lookup('token', 't1', loads.token.load);
      await cache.lookup('agent', 'a1', loads.agent.load);
      await cache.lookup('settings', 'all', loads.settings.load);
    };
    const counts = () => Object.values(loads).map((l) => l.calls.n);
    await all();
    await all();
    expect(counts()).toEqual([1, 1, 1, 1, 1]);
    fake.announce('session h1');
    await all();
    expect(counts()).toEqual([2, 1, 1, 1, 1]);
    fake.announce('user');
    await all();
    expect(counts()).toEqual([3, 2, 2, 1, 2]);
    fake.announce('agent');
    fake.announce('settings');
    await all();
    expect(counts()).toEqual([3, 2, 2, 2, 3]);
  });

  it('does not keep an answer when a change was announced while it was being looked up', async () => {
    const fake = fakeDatabase();
    const cache = new CachedReads(fake.db);
    fake.up(true);
    const { calls, load } = counted({ user: 'a' });
    await cache.lookup('session', 'h1', async () => {
      fake.announce('session h1'); // committed after this lookup's snapshot, heard before its answer
      return load();
    });
    await cache.lookup('session', 'h1', load);
    expect(calls.n).toBe(2);
  });

  it('forgets everything, and keeps nothing, from the moment the channel is lost until it is back', async () => {
    const fake = fakeDatabase();
    const cache = new CachedReads(fake.db);
    fake.up(true);
    const { calls, load } = counted({ user: 'a' });
    await cache.lookup('token', 't1', load);
    fake.up(false);
    await cache.lookup('token', 't1', load);
    await cache.lookup('token', 't1', load);
    expect(calls.n).toBe(3);
    fake.up(true);
    await cache.lookup('token', 't1', load);
    await cache.lookup('token', 't1', load);
    expect(calls.n).toBe(4);
  });

  it('heard() announces a sync, answers it as every replica does, and resolves once every listening replica has answered', async () => {
    const fake = fakeDatabase({ listeners: 2 });
    const cache = new CachedReads(fake.db);
    fake.up(true);
    let resolved = false;
    const heard = cache.heard().then(() => (resolved = true));
    await new Promise((r) => setTimeout(r, 20));
    const nonce = /^sync ([0-9a-f-]{36})$/.exec(fake.sent[0] ?? '')?.[1];
    expect(fake.sent).toEqual([`sync ${nonce}`, `heard ${nonce}`]); // the sync, and this replica's own answer
    expect(resolved).toBe(false); // the other replica has not answered yet
    fake.announce(`heard ${nonce}`);
    await heard;
    expect(resolved).toBe(true);
  });

  it('heard() forgets everything when its sync cannot be sent, or not every replica answers within a second', async () => {
    for (const options of [{ failQuery: true }, { echo: false }, { listeners: 3 }]) {
      const broken = fakeDatabase(options);
      const forgetful = new CachedReads(broken.db);
      broken.up(true);
      const { calls, load } = counted({ user: 'a' });
      await forgetful.lookup('session', 'h1', load);
      await forgetful.heard();
      await forgetful.lookup('session', 'h1', load);
      expect(calls.n, JSON.stringify(options)).toBe(2);
    }
  });

  it('heard() does not wait once the channel is lost: nothing is kept then', async () => {
    const fake = fakeDatabase({ echo: false });
    const cache = new CachedReads(fake.db);
    fake.up(true);
    const heard = cache.heard();
    await new Promise((r) => setTimeout(r, 20));
    fake.up(false);
    await heard; // well within the second it would wait otherwise
    expect(fake.sent).toHaveLength(1);
  });
});
