import type { Queryable } from '../../db/database.js';
import type { LoginThrottle } from '../config.js';

/**
 * Failed logins are counted in the database (so every replica sees them), per account and per
 * client address, over a sliding window. A refused attempt is not counted, so an attacker cannot
 * extend the block indefinitely, and at most `max` rows per key live in the window.
 */
export class LoginThrottler {
  constructor(
    private readonly db: Queryable,
    private readonly limits: LoginThrottle,
  ) {}

  private keys(email: string, address: string) {
    return [
      { key: `account:${email}`, max: this.limits.maxPerAccount },
      { key: `address:${address}`, max: this.limits.maxPerAddress },
    ];
  }

  /** Seconds until another attempt is allowed, or 0 when it is allowed now. */
  async retryAfter(email: string, address: string): Promise<number> {
    const keys = this.keys(email, address);
    const rows = await this.db.query<{ key: string; expires_in: number }>(
      `SELECT key, extract(epoch FROM at + $2 * interval '1 second' - now())::float8 AS expires_in
         FROM login_failures
        WHERE key = ANY($1::text[]) AND at > now() - $2 * interval '1 second'
        ORDER BY at`,
      [keys.map((k) => k.key), this.limits.windowSeconds],
    );
    let wait = 0;
    for (const { key, max } of keys) {
      const expiries = rows.filter((r) => r.key === key).map((r) => r.expires_in);
      // Allowed again once enough of the oldest failures have left the window.
      if (expiries.length >= max) wait = Math.max(wait, Math.ceil(expiries[expiries.length - max] ?? 0));
    }
    return wait;
  }

  async recordFailure(email: string, address: string): Promise<void> {
    await this.db.query(`DELETE FROM login_failures WHERE at < now() - $1 * interval '1 second'`, [this.limits.windowSeconds]);
    await this.db.query('INSERT INTO login_failures (key) SELECT unnest($1::text[])', [
      this.keys(email, address).map((k) => k.key),
    ]);
  }

  async recordSuccess(email: string): Promise<void> {
    await this.db.query('DELETE FROM login_failures WHERE key = $1', [`account:${email}`]);
  }
}
