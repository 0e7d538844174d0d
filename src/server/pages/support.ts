import { createHmac, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasControlCharacter } from '../../shared/text.js';
import { SESSION_COOKIE } from '../auth/sessions.js';
import type { Me } from '../../shared/api-shapes.js';
import { html, type Html } from './html.js';
import { layout, type Viewer } from './layout.js';

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

/** The signed-in viewer, or a redirect to the login page (which returns to this page). */
export async function requireViewer(app: FastifyInstance, request: FastifyRequest, reply: FastifyReply): Promise<Viewer | undefined> {
  const session = request.cookies[SESSION_COOKIE];
  const me = session ? await api<Me>(app, request, 'GET', '/api/me') : undefined;
  if (!session || me?.status !== 200) {
    void reply.redirect(`/login?next=${encodeURIComponent(request.url)}`, 303);
    return undefined;
  }
  return { email: me.body.user.email, role: me.body.user.role, csrf: csrfFor(session) };
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

export function forbiddenForm(reply: FastifyReply, viewer: Viewer): FastifyReply {
  return sendPage(
    reply,
    layout(
      'Refused',
      viewer,
      html`<p class="alert" role="alert">
        This form was not sent from this site (missing or wrong anti-forgery token). Go back, reload the page and try again.
      </p>`,
    ),
    403,
  );
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
