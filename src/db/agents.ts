import type { Database, Row } from './database.js';

/** Advisory lock space for enrolling: one agent per name, however many enroll at once. */
const AGENT_NAME_LOCK = 7_416_003;

/** SQL: the agent of the row is online (not revoked, seen within `seconds`). */
const online = (seconds: number) => `(revoked_at IS NULL AND last_seen_at > now() - ${Number(seconds)} * interval '1 second')`;

export interface NewEnrollmentToken {
  tokenHash: string;
  name: string;
  labels: string[];
  createdBy: string;
  ttlSeconds: number;
}

export interface Enrollment {
  tokenHash: string;
  credentialHash: string;
  version: string | null;
  hostname: string | null;
  runbooks: string[];
}

/** Why an enrollment was refused, when it was. */
export type EnrollmentRefusal = { refused: 'token' } | { refused: 'name-taken'; name: string };

/** Edge agents and the one-time tokens that enroll them; `onlineSeconds` says what online means. */
export function agentsRepository(db: Database, onlineSeconds: number) {
  const select = `SELECT id, name, labels, version, hostname, runbooks, enrolled_at, last_seen_at, revoked_at, ${online(onlineSeconds)} AS online FROM agents`;
  return {
    async createEnrollmentToken(t: NewEnrollmentToken): Promise<Row | undefined> {
      const [row] = await db.query(
        `INSERT INTO enrollment_tokens (token_hash, name, labels, created_by, expires_at)
         VALUES ($1, $2, $3, $4, now() + $5 * interval '1 second') RETURNING id, name, labels, expires_at`,
        [t.tokenHash, t.name, t.labels, t.createdBy, t.ttlSeconds],
      );
      return row;
    },

    enrollmentTokens: () => db.query('SELECT id, name, labels, created_at, expires_at, used_at, revoked_at FROM enrollment_tokens ORDER BY created_at DESC'),

    /** Whether there was such a token (revoking twice keeps the first time). */
    async revokeEnrollmentToken(id: string): Promise<boolean> {
      return (await db.query('UPDATE enrollment_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING id', [id])).length > 0;
    },

    /** Spends the token and enrolls the agent it names, all or nothing: a refusal leaves the token unspent. */
    enroll(e: Enrollment): Promise<{ enrolled: Row } | EnrollmentRefusal> {
      return db
        .transaction(async (tx) => {
          // One use: the token is spent in the same statement that checks it.
          const [token] = await tx.query<{ id: string; name: string; labels: string[] }>(
            `UPDATE enrollment_tokens SET used_at = now()
              WHERE token_hash = $1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > now() RETURNING id, name, labels`,
            [e.tokenHash],
          );
          if (!token) throw new Refusal({ refused: 'token' });
          // The admin's token names the agent, not the agent itself; one enrolled agent per name.
          await tx.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [AGENT_NAME_LOCK, token.name]);
          const [taken] = await tx.query('SELECT 1 FROM agents WHERE name = $1 AND revoked_at IS NULL', [token.name]);
          if (taken) throw new Refusal({ refused: 'name-taken', name: token.name });
          const [row] = await tx.query(
            `INSERT INTO agents (name, credential_hash, labels, version, hostname, runbooks, enrollment_token_id, last_seen_at)
             VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, now()) RETURNING id, name, labels`,
            [token.name, e.credentialHash, token.labels, e.version, e.hostname, JSON.stringify(e.runbooks), token.id],
          );
          if (!row) throw new Error('INSERT … RETURNING gave no row');
          return { enrolled: row };
        })
        .catch((err: unknown) => {
          // A refusal rolled the transaction back: it is an answer, not an error.
          if (err instanceof Refusal) return err.why;
          throw err;
        });
    },

    list: (label: string | undefined) => db.query(`${select} WHERE ($1::text IS NULL OR $1 = ANY(labels)) ORDER BY name, id`, [label ?? null]),

    async get(id: string): Promise<Row | undefined> {
      return (await db.query(`${select} WHERE id = $1`, [id]))[0];
    },

    /** Whether there was such an agent (revoking twice keeps the first time). */
    async revoke(id: string): Promise<boolean> {
      return (await db.query('UPDATE agents SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING id', [id])).length > 0;
    },

    async countOnline(): Promise<number> {
      const [row] = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM agents WHERE ${online(onlineSeconds)}`);
      return row?.n ?? 0;
    },
  };
}

export type AgentsRepository = ReturnType<typeof agentsRepository>;

/** Thrown inside the enrollment's transaction to roll it back with a reason. */
class Refusal extends Error {
  constructor(readonly why: EnrollmentRefusal) {
    super(why.refused);
  }
}
