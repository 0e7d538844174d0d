import { createHmac, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasControlCharacter } from '../../shared/text.js';
import { SESSION_COOKIE } from '../auth/sessions.js';
import type { Me, Operations } from '../../shared/api-shapes.js';
import { runningWords } from './operation-words.js';
import { html, type Html } from './html.js';
import { errorPage, type Site, type Viewer } from './layout.js';

/**
 * The pages are thin views over the API: each reads and acts through the same routes (with the
 * same session, the same checks, the same errors), in process.
 */
export async function api<T = Record<string, unknown>>(
  app: FastifyInstance,
  request: FastifyRequest,
  method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE',
  url: string,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  // Unsafe requests signed in by the cookie carry a JSON body (see access.ts), {} when there is nothing to send.
  const payload = body ?? (method === 'GET' ? undefined : {});
  const res = await app.inject({
    method,
    url,
    remoteAddress: request.ip,
    headers: { cookie: request.headers.cookie ?? '', ...(payload === undefined ? {} : { 'content-type': 'application/json' }) },
    payload: payload === undefined ? undefined : JSON.stringify(payload),
  });
  return { status: res.statusCode, body: (res.body ? res.json() : undefined) as T };
}

/** A form's anti-forgery token: derived from the session secret, which another site cannot read. */
export function csrfFor(session: string): string {
  return createHmac('sha256', session).update('atlas-csrf').digest('hex');
}

export function sendPage(reply: FastifyReply, page: Html, status = 200): FastifyReply {
  return reply.code(status).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(page.value);
}

/** Who is signed in, if anyone (the session must still be good). */
export async function currentViewer(app: FastifyInstance, request: FastifyRequest): Promise<Viewer | undefined> {
  const session = request.cookies[SESSION_COOKIE];
  const me = session ? await api<Me>(app, request, 'GET', '/api/me') : undefined;
  if (!session || me?.status !== 200) return undefined;
  const ops = await api<Operations>(app, request, 'GET', '/api/operations?limit=0');
  const running = ops.status === 200 && ops.body.running ? runningWords(ops.body.running) : undefined;
  return { id: me.body.user.id, email: me.body.user.email, role: me.body.user.role, csrf: csrfFor(session), ...(running ? { running } : {}) };
}

/** The signed-in viewer, or a redirect to the login page (which returns to this page). */
export async function requireViewer(app: FastifyInstance, request: FastifyRequest, reply: FastifyReply): Promise<Viewer | undefined> {
  const viewer = await currentViewer(app, request);
  if (!viewer) void reply.redirect(`/login?next=${encodeURIComponent(request.url)}`, 303);
  return viewer;
}

/** Whether a token given matches the one expected (both present), in constant time. */
export function sameToken(given: string | undefined, expected: string | undefined): boolean {
  const a = Buffer.from(given ?? '');
  const b = Buffer.from(expected ?? '');
  return a.length > 0 && a.length === b.length && timingSafeEqual(a, b);
}

/** Refuses a form post that does not carry the viewer's anti-forgery token. */
export function checkCsrf(viewer: Viewer, form: Record<string, string> | undefined): boolean {
  return sameToken(form?.csrf, viewer.csrf);
}

export function forbiddenForm(site: Site, reply: FastifyReply, viewer: Viewer): FastifyReply {
  const message = 'This form was not sent from this site (missing or wrong anti-forgery token). Go back, reload the page and try again.';
  return sendPage(reply, errorPage(site, 403, message, viewer), 403);
}

const THIS_SITE = 'http://this-site.invalid';

/**
 * A safe place to return to after login: a path on this site only, as a browser would resolve
 * it (which drops tabs and newlines, and reads `\` as `/`), and never `//host` after `..`; anything
 * with a control character is refused outright.
 */
export function localPath(next: unknown): string {
  const fallback = '/incidents';
  if (typeof next !== 'string' || !next.startsWith('/') || hasControlCharacter(next)) return fallback;
  let url: URL;
  try {
    url = new URL(next, THIS_SITE);
  } catch {
    return fallback;
  }
  const path = `${url.pathname}${url.search}${url.hash}`;
  return url.origin === THIS_SITE && !path.startsWith('//') ? path : fallback;
}

/** The message of an API error, for a page. */
export function errorText(body: unknown): string {
  const message = (body as { message?: unknown } | undefined)?.message;
  return typeof message === 'string' ? message : 'the request failed';
}

export type Form = Record<string, string>;

/** A form the API refused for who sent it (403): answered with a page saying so, not a way back. */
class Refusal {
  constructor(readonly message: string) {}
}

/**
 * A form post: the viewer signed in and the anti-forgery token checked before `act`, which
 * answers with the place to go next (a redirect: reloading it posts nothing again), a page, or
 * a refusal.
 */
export function onForm<P = Record<string, string>>(
  app: FastifyInstance,
  site: Site,
  url: string,
  act: (request: FastifyRequest<{ Params: P; Body: Form }>, viewer: Viewer, reply: FastifyReply) => Promise<string | Refusal | FastifyReply>,
): void {
  app.post<{ Params: P; Body: Form }>(url, async (request, reply) => {
    const viewer = await requireViewer(app, request, reply);
    if (!viewer) return reply;
    if (!checkCsrf(viewer, request.body)) return forbiddenForm(site, reply, viewer);
    const next = await act(request, viewer, reply);
    if (next instanceof Refusal) return sendPage(reply, errorPage(site, 403, next.message, viewer), 403);
    return typeof next === 'string' ? reply.redirect(next, 303) : next;
  });
}

/**
 * Where a form goes after the API answered: back to its page, saying what was done (a notice
 * key) or what to correct; a role the API refused is refused here too.
 */
export function back(page: string, res: { status: number; body: unknown }, notice: string): string | Refusal {
  if (res.status === 403) return new Refusal(errorText(res.body));
  const ok = res.status >= 200 && res.status < 300;
  return `${page}?${ok ? `notice=${notice}` : `error=${encodeURIComponent(errorText(res.body))}`}`;
}

/** The notice (from the page's own list) or the error a form went back with. */
export function outcome(query: { notice?: string; error?: string }, notices: Record<string, string>): Html {
  const notice = notices[query.notice ?? ''];
  return html`${notice ? html`<p class="notice" role="status">${notice}</p>` : ''}${query.error ? html`<p class="alert" role="alert">${query.error}</p>` : ''}`;
}
