import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Queryable } from '../../db/database.js';
import { hashSecret, newSecret } from './secrets.js';
import { CREDENTIAL_PREFIXES } from '../../shared/redact.js';

export const SESSION_COOKIE = 'atlas_session';

/** Sessions live in the database, so any replica serves any logged-in user. */
export async function startSession(db: Queryable, request: FastifyRequest, reply: FastifyReply, userId: string, ttlSeconds: number): Promise<void> {
  const token = newSecret(CREDENTIAL_PREFIXES.session);
  await db.query(`INSERT INTO sessions (token_hash, user_id, expires_at) VALUES ($1, $2, now() + $3 * interval '1 second')`, [
    hashSecret(token),
    userId,
    ttlSeconds,
  ]);
  setSessionCookie(reply, token, request.protocol === 'https', ttlSeconds);
}

/** The session cookie: HttpOnly, SameSite=Lax, Secure when the browser reached us over HTTPS. */
export function setSessionCookie(reply: FastifyReply, token: string, secure: boolean, maxAge: number): void {
  void reply.setCookie(SESSION_COOKIE, token, { path: '/', httpOnly: true, sameSite: 'lax', secure, maxAge });
}

export async function endSession(db: Queryable, reply: FastifyReply, tokenHash: string): Promise<void> {
  await db.query('DELETE FROM sessions WHERE token_hash = $1', [tokenHash]);
  void reply.clearCookie(SESSION_COOKIE, { path: '/' });
}

/** Ends every session of a user (password changed, account disabled). */
export async function endAllSessions(db: Queryable, userId: string): Promise<void> {
  await db.query('DELETE FROM sessions WHERE user_id = $1', [userId]);
}
