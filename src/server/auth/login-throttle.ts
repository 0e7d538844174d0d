import type { Database } from '../../db/database.js';
import type { LoginThrottle } from '../config.js';

/** A login attempt let through: it counts as a failure until it succeeds. */
export interface Attempt {
  ids: string[];
}

const accountKey = (email: string, address: string) => `account:${email} at:${address}`;

/** PostgreSQL advisory lock space of the login throttle (pg_advisory_xact_lock(key1, key2)). */
const LOCK_SPACE = 7_416_002;

/**
 * Failed logins are counted in the database (so every replica sees them), per account at each
 * client address, and per client address, over a sliding window. An account is not counted
 * across addresses: then anyone could lock anyone out (the verification identity of every
 * upgrade among them) by guessing from elsewhere; the guessing address is throttled instead. An attempt is counted before its password is checked,
 * under a lock per key, so parallel attempts cannot all slip under the limit; it is uncounted
 * when it succeeds. A refused attempt is not counted, so an attacker cannot extend the block
 * indefinitely, and at most `max` rows per key live in the window.
 */
export class LoginThrottler {
  constructor(
    private readonly db: Database,
    private readonly limits: LoginThrottle,
  ) {}

  private keys(email: string, address: string) {
    return [
      { key: accountKey(email, address), max: this.limits.maxPerAccount },
      { key: `address:${address}`, max: this.limits.maxPerAddress },
    ];
  }

  /** Counts an attempt, or refuses it: the seconds until another attempt is allowed. */
  async begin(email: string, address: string): Promise<Attempt | { retryAfter: number }> {
    const keys = this.keys(email, address);
    return this.db.transaction(async (tx) => {
      for (const { key } of [...keys].sort((a, b) => a.key.localeCompare(b.key))) {
        await tx.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [LOCK_SPACE, key]);
      }
      await tx.query(`DELETE FROM login_failures WHERE key = ANY($1::text[]) AND at < now() - $2 * interval '1 second'`, [
        keys.map((k) => k.key),
        this.limits.windowSeconds,
      ]);
      const rows = await tx.query<{ key: string; expires_in: number }>(
        `SELECT key, extract(epoch FROM at + $2 * interval '1 second' - now())::float8 AS expires_in
           FROM login_failures WHERE key = ANY($1::text[]) ORDER BY at`,
        [keys.map((k) => k.key), this.limits.windowSeconds],
      );
      let wait = 0;
      for (const { key, max } of keys) {
        const expiries = rows.filter((r) => r.key === key).map((r) => r.expires_in);
        // Allowed again once enough of the oldest failures have left the window.
        if (expiries.length >= max) wait = Math.max(wait, Math.ceil(expiries[expiries.length - max] ?? 0), 1);
      }
      if (wait > 0) return { retryAfter: wait };
      const inserted = await tx.query<{ id: string }>('INSERT INTO login_failures (key) SELECT unnest($1::text[]) RETURNING id::text AS id', [
        keys.map((k) => k.key),
      ]);
      return { ids: inserted.map((r) => r.id) };
    });
  }

  /** The attempt succeeded: it is not a failure, and the account's failures at this address are forgotten. */
  async succeeded(attempt: Attempt, email: string, address: string): Promise<void> {
    await this.db.query('DELETE FROM login_failures WHERE id = ANY($1::bigint[]) OR key = $2', [attempt.ids, accountKey(email, address)]);
  }
}
