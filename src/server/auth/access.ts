import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Database } from '../../db/database.js';
import { toUser, userColumns, type Role, type User } from '../../db/users.js';
import { HttpError } from '../errors.js';
import { hashSecret } from './secrets.js';
import { SESSION_COOKIE } from './sessions.js';

/** Who may call a route: anyone, or a logged-in user with at least this role. */
export type Access = 'public' | Role;

export interface AuthUser extends User {
  /** How the caller proved who they are; `credential` is the session or token hash. */
  via: { kind: 'session' | 'token'; credential: string };
}

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
  }
  interface FastifyRequest {
    user: AuthUser | undefined;
  }
}

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };
const TOKEN_RE = /^Bearer (atp_[A-Za-z0-9_-]{43})$/;
/** last_used_at is written at most this often per token, so reads stay reads. */
const TOKEN_TOUCH_SECONDS = 60;

/** Every /api route needs a login unless it says `access: 'public'`; /api/admin/* always needs an admin. */
export function accessFor(url: string, declared: Access | undefined): Access {
  if (url.startsWith('/api/admin/') || url === '/api/admin') return 'admin';
  if (declared) return declared;
  return url === '/api' || url.startsWith('/api/') ? 'viewer' : 'public';
}

async function authenticate(db: Database, request: FastifyRequest): Promise<AuthUser | undefined> {
  const header = request.headers.authorization;
  if (header !== undefined) {
    const token = TOKEN_RE.exec(header)?.[1];
    if (!token) {
      throw new HttpError(401, 'unauthorized', 'the Authorization header must be "Bearer atp_…" with an API token');
    }
    const hash = hashSecret(token);
    const [row] = await db.query(
      `SELECT ${userColumns('u')},
              t.last_used_at IS NULL OR t.last_used_at < now() - $2 * interval '1 second' AS stale
         FROM api_tokens t JOIN users u ON u.id = t.user_id
        WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND NOT u.disabled`,
      [hash, TOKEN_TOUCH_SECONDS],
    );
    if (!row) return undefined;
    if (row.stale) await db.query('UPDATE api_tokens SET last_used_at = now() WHERE token_hash = $1', [hash]);
    return { ...toUser(row), via: { kind: 'token', credential: hash } };
  }
  const cookie = request.cookies[SESSION_COOKIE];
  if (!cookie) return undefined;
  const hash = hashSecret(cookie);
  const [row] = await db.query(
    `SELECT ${userColumns('u')}
       FROM sessions s JOIN users u ON u.id = s.user_id
      WHERE s.token_hash = $1 AND s.expires_at > now() AND NOT u.disabled`,
    [hash],
  );
  return row ? { ...toUser(row), via: { kind: 'session', credential: hash } } : undefined;
}

export function registerAccessControl(app: FastifyInstance, db: Database): void {
  app.decorateRequest('user', undefined);
  app.addHook('onRequest', async (request) => {
    // Decide on the matched route's pattern, not the raw URL: `/api/%61dmin/x` or a query string
    // must not change which rule applies.
    const pattern = request.routeOptions.url ?? request.url.split('?')[0] ?? '';
    const required = accessFor(pattern, request.routeOptions.config.access);
    if (required === 'public') return;
    const user = await authenticate(db, request);
    if (!user) {
      throw new HttpError(
        401,
        'unauthorized',
        'log in first (POST /api/login), or send an API token as "Authorization: Bearer atp_…"',
      );
    }
    if (RANK[user.role] < RANK[required]) {
      throw new HttpError(403, 'forbidden', `this needs the ${required} role; you are signed in as ${user.role}`);
    }
    request.user = user;
  });
}

/** The caller of a route that required a login (the access hook has already checked). */
export function caller(request: FastifyRequest): AuthUser {
  if (!request.user) throw new HttpError(401, 'unauthorized', 'log in first');
  return request.user;
}
