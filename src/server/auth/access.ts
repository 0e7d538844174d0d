import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Database } from '../../db/database.js';
import { toUser, userColumns, type Role, type User } from '../../db/users.js';
import { HttpError } from '../errors.js';
import type { CheckinWriter } from '../agent-checkins.js';
import type { CachedReads } from '../cached-reads.js';
import { hashSecret } from './secrets.js';
import { SESSION_COOKIE } from './sessions.js';

/** Who may call a route: anyone, an enrolled edge agent, or a logged-in user with at least this role. */
export type Access = 'public' | 'agent' | Role;

export interface AuthAgent {
  id: string;
  name: string;
}

export interface AuthUser extends User {
  /** How the caller proved who they are; `credential` is the session or token hash. */
  via: { kind: 'session' | 'token'; credential: string };
}

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
    /** The route writes the agent's last-seen time itself (the check-in). */
    checksIn?: boolean;
  }
  interface FastifyRequest {
    user: AuthUser | undefined;
    agent: AuthAgent | undefined;
  }
}

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };
const TOKEN_RE = /^Bearer (atp_[A-Za-z0-9_-]{43})$/;
/** last_used_at is written at most this often per token, so reads stay reads. */
const TOKEN_TOUCH_MS = 60_000;

const AGENT_TOKEN_RE = /^Bearer (aga_[A-Za-z0-9_-]{43})$/;
/** An agent's last-seen time moves with any request of its, written at most this often. */
const AGENT_TOUCH_MS = 5_000;
export const AGENT_NOT_VALID = 'this agent credential is not valid (revoked, or never issued): enroll the agent again';

/**
 * Every /api route needs a login unless it says `access: 'public'`; /api/admin/* always needs an
 * admin; /api/agent/* always needs an agent credential (and no user can call it).
 */
export function accessFor(url: string, declared: Access | undefined): Access {
  if (url.startsWith('/api/admin/') || url === '/api/admin') return 'admin';
  if (url.startsWith('/api/agent/')) return 'agent';
  if (declared) return declared;
  return url === '/api' || url.startsWith('/api/') ? 'viewer' : 'public';
}

/** How the access check finds credentials: in the database, through the cache; agents' last-seen times go to the writer. */
export interface Credentials {
  db: Database;
  cache: CachedReads;
  checkins: CheckinWriter;
}

interface KnownToken {
  user: User;
  /** When last_used_at was last written (ms). */
  touched: number;
}

async function authenticate({ db, cache }: Credentials, request: FastifyRequest): Promise<AuthUser | undefined> {
  const header = request.headers.authorization;
  if (header !== undefined) {
    const token = TOKEN_RE.exec(header)?.[1];
    if (!token) {
      throw new HttpError(401, 'unauthorized', 'the Authorization header must be "Bearer atp_…" with an API token');
    }
    const hash = hashSecret(token);
    const known = await cache.lookup<KnownToken>('token', hash, async () => {
      const [row] = await db.query(
        `SELECT ${userColumns('u')}, t.last_used_at
           FROM api_tokens t JOIN users u ON u.id = t.user_id
          WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND NOT u.disabled`,
        [hash],
      );
      return row ? { user: toUser(row), touched: row.last_used_at ? (row.last_used_at as Date).getTime() : 0 } : undefined;
    });
    if (!known) return undefined;
    if (Date.now() - known.touched > TOKEN_TOUCH_MS) {
      known.touched = Date.now();
      await db.query('UPDATE api_tokens SET last_used_at = now() WHERE token_hash = $1', [hash]);
    }
    return { ...known.user, via: { kind: 'token', credential: hash } };
  }
  const cookie = request.cookies[SESSION_COOKIE];
  if (!cookie) return undefined;
  const hash = hashSecret(cookie);
  const session = await cache.lookup('session', hash, async () => {
    const [row] = await db.query(
      `SELECT ${userColumns('u')}, s.expires_at
         FROM sessions s JOIN users u ON u.id = s.user_id
        WHERE s.token_hash = $1 AND s.expires_at > now() AND NOT u.disabled`,
      [hash],
    );
    return row ? { user: toUser(row), expires: (row.expires_at as Date).getTime() } : undefined;
  });
  return session && session.expires > Date.now() ? { ...session.user, via: { kind: 'session', credential: hash } } : undefined;
}

interface KnownAgent extends AuthAgent {
  /** When its last-seen time was last written (ms). */
  seen: number;
}

async function authenticateAgent({ db, cache, checkins }: Credentials, request: FastifyRequest): Promise<AuthAgent> {
  const secret = AGENT_TOKEN_RE.exec(request.headers.authorization ?? '')?.[1];
  if (!secret) throw new HttpError(401, 'unauthorized', 'agent routes need "Authorization: Bearer aga_…" with the credential the agent received at enrollment');
  const hash = hashSecret(secret);
  const agent = await cache.lookup<KnownAgent>('agent', hash, async () => {
    const [row] = await db.query<{ id: string; name: string }>('SELECT id, name FROM agents WHERE credential_hash = $1 AND revoked_at IS NULL', [hash]);
    return row && { ...row, seen: 0 };
  });
  if (!agent) throw new HttpError(401, 'unauthorized', AGENT_NOT_VALID);
  // A check-in writes it anyway; other routes move it at most every AGENT_TOUCH_MS, unawaited.
  if (!request.routeOptions.config.checksIn && Date.now() - agent.seen > AGENT_TOUCH_MS) {
    agent.seen = Date.now();
    checkins.record(agent.id).catch((err: unknown) => request.log.warn({ err, agent: agent.id }, "could not write the agent's last-seen time"));
  }
  return { id: agent.id, name: agent.name };
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * A browser sends the session cookie with any request to this site, including a form or a
 * `no-cors` fetch another site (or another port of this one) makes: an unsafe request signed in
 * by the cookie alone must therefore be one such a page cannot send, a JSON body (which needs a
 * CORS preflight, never granted). API tokens are not sent by browsers on their own.
 */
function refuseCrossSite(request: FastifyRequest, user: AuthUser): void {
  if (user.via.kind !== 'session' || SAFE_METHODS.has(request.method)) return;
  const type = request.headers['content-type']?.split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/json') {
    throw new HttpError(
      403,
      'cross_site_request',
      'a request signed in with the session cookie must send a JSON body (content-type: application/json; {} when there is nothing to send), so that another site cannot make it',
    );
  }
}

export function registerAccessControl(app: FastifyInstance, credentials: Credentials): void {
  app.decorateRequest('user', undefined);
  app.decorateRequest('agent', undefined);
  app.addHook('onRequest', async (request) => {
    // Decide on the matched route's pattern, not the raw URL: `/api/%61dmin/x` or a query string
    // must not change which rule applies.
    const pattern = request.routeOptions.url ?? request.url.split('?')[0] ?? '';
    const required = accessFor(pattern, request.routeOptions.config.access);
    if (required === 'public') return;
    if (required === 'agent') {
      request.agent = await authenticateAgent(credentials, request);
      return;
    }
    request.user = await requireUser(credentials, request, required);
    refuseCrossSite(request, request.user);
  });
  // A user's write may have ended credentials (a logout, a revoked token, a disabled user): it is
  // answered once this replica has heard so, and with it every other.
  app.addHook('onSend', async (request) => {
    if (request.user && !SAFE_METHODS.has(request.method)) await credentials.cache.heard();
  });
}

/** The caller, signed in (session or API token) with at least the role required; 401 or 403 otherwise. */
export async function requireUser(credentials: Credentials, request: FastifyRequest, required: Role): Promise<AuthUser> {
  const user = await authenticate(credentials, request);
  if (!user) {
    throw new HttpError(401, 'unauthorized', 'log in first (POST /api/login), or send an API token as "Authorization: Bearer atp_…"');
  }
  if (RANK[user.role] < RANK[required]) {
    throw new HttpError(403, 'forbidden', `this needs the ${required} role; you are signed in as ${user.role}`);
  }
  return user;
}

/** The agent calling an /api/agent/* route (the access hook has already checked). */
export function callingAgent(request: FastifyRequest): AuthAgent {
  if (!request.agent) throw new HttpError(401, 'unauthorized', 'agent credential required');
  return request.agent;
}

/** The caller of a route that required a login (the access hook has already checked). */
export function caller(request: FastifyRequest): AuthUser {
  if (!request.user) throw new HttpError(401, 'unauthorized', 'log in first');
  return request.user;
}
