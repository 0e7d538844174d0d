import type { Queryable } from '../../db/database.js';

/** What a restore did so that no credential comes back: each list names what it kept revoked. */
export interface CredentialsKept {
  sessionsEnded: number;
  /** API tokens revoked or deleted since the backup (prefix and name). */
  tokens: string[];
  /** Agents revoked or deleted since the backup, or whose credential was replaced since (names). */
  agents: string[];
  /** Enrollment tokens used, revoked or deleted since the backup (names). */
  enrollmentTokens: string[];
  /** Users disabled or deleted since the backup, or whose password changed since (e-mails). */
  users: string[];
}

const q = (schema: string, table: string) => `"${schema}".${table}`;

/**
 * A restore never brings a credential back to life: every session ends, and what the live data
 * (`live`: the data from before the restore) revoked, disabled, replaced or deleted since the
 * backup stays so in the restored data (`restored`). Deleted users and agents are not deleted
 * again (rows refer to them): they are disabled and revoked. After a compromise, restoring the
 * backup from before it must not re-validate the attacker's sessions, tokens or old passwords.
 */
export async function keepCredentialsRevoked(tx: Queryable, live: string, restored: string): Promise<CredentialsKept> {
  const present = new Set(
    (
      await tx.query<{ name: string }>(
        `SELECT n.nspname || '.' || c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                                          WHERE n.nspname IN ($1, $2) AND c.relkind = 'r'`,
        [live, restored],
      )
    ).map((r) => r.name),
  );
  // A table the live data lacks (a restore into an empty database) has revoked nothing since.
  const both = (table: string) => present.has(`${live}.${table}`) && present.has(`${restored}.${table}`);
  const names = async (table: string, sql: string) => (both(table) ? (await tx.query<{ name: string }>(sql)).map((r) => r.name).sort() : []);
  const [ended] = present.has(`${restored}.sessions`)
    ? await tx.query<{ n: number }>(`WITH ended AS (DELETE FROM ${q(restored, 'sessions')} RETURNING 1) SELECT count(*)::int AS n FROM ended`)
    : [];
  const revokedSince = (table: string, label: string) =>
    names(
      table,
      `UPDATE ${q(restored, table)} r SET revoked_at = coalesce((SELECT l.revoked_at FROM ${q(live, table)} l WHERE l.id = r.id), now())
            WHERE r.revoked_at IS NULL AND NOT EXISTS (SELECT 1 FROM ${q(live, table)} l WHERE l.id = r.id AND l.revoked_at IS NULL)
            RETURNING ${label} AS name`,
    );
  const tokens = await revokedSince('api_tokens', `r.prefix || ' (' || r.name || ')'`);
  const agents = await revokedSince('agents', 'r.name');
  const rotated = await names(
    'agents',
    `UPDATE ${q(restored, 'agents')} r SET credential_hash = l.credential_hash FROM ${q(live, 'agents')} l
                                WHERE l.id = r.id AND l.credential_hash <> r.credential_hash RETURNING r.name || ' (credential replaced since)' AS name`,
  );
  const enrollmentTokens = await names(
    'enrollment_tokens',
    `UPDATE ${q(restored, 'enrollment_tokens')} r SET revoked_at = coalesce(l.revoked_at, l.used_at, now())
      FROM (SELECT r2.id, l2.revoked_at, l2.used_at FROM ${q(restored, 'enrollment_tokens')} r2 LEFT JOIN ${q(live, 'enrollment_tokens')} l2 ON l2.id = r2.id
             WHERE r2.revoked_at IS NULL AND r2.used_at IS NULL AND (l2.id IS NULL OR l2.revoked_at IS NOT NULL OR l2.used_at IS NOT NULL)) l
     WHERE r.id = l.id RETURNING r.name AS name`,
  );
  const disabled = await names(
    'users',
    `UPDATE ${q(restored, 'users')} r SET disabled = true
                                 WHERE NOT r.disabled AND NOT EXISTS (SELECT 1 FROM ${q(live, 'users')} l WHERE l.id = r.id AND NOT l.disabled)
                                 RETURNING r.email || ' (disabled or deleted since)' AS name`,
  );
  const passwords = await names(
    'users',
    `UPDATE ${q(restored, 'users')} r SET password_hash = l.password_hash FROM ${q(live, 'users')} l
                                  WHERE l.id = r.id AND l.password_hash <> r.password_hash RETURNING r.email || ' (password changed since)' AS name`,
  );
  return { sessionsEnded: ended?.n ?? 0, tokens, agents: [...agents, ...rotated], enrollmentTokens, users: [...disabled, ...passwords] };
}

/** The restore report's lines about credentials. */
export function credentialLines(kept: CredentialsKept): string[] {
  const list = (what: string, items: string[]) => (items.length ? [`${what} (${items.length}): ${items.join(', ')}`] : []);
  return [
    `sessions ended: ${kept.sessionsEnded} (everyone signs in again)`,
    ...list('API tokens kept revoked, as they are now', kept.tokens),
    ...list('agents kept revoked, as they are now', kept.agents),
    ...list('enrollment tokens kept unusable, as they are now', kept.enrollmentTokens),
    ...list('users kept as they are now', kept.users),
  ];
}
