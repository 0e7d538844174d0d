import formbody from '@fastify/formbody';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Database } from '../../db/database.js';
import { APP_CSS, APP_JS, FAVICON_SVG } from './assets.js';
import { incidentPages } from './incidents.js';
import { errorPage, type Site } from './layout.js';
import { sessionPages } from './session.js';
import { settingsPages } from './settings.js';
import { agentPages } from './agents.js';
import { integrationPages } from './integrations.js';
import { tokenPages } from './tokens.js';
import { upgradePages } from './upgrades.js';
import { userPages } from './users.js';
import { currentViewer, sendPage } from './support.js';

const ASSETS: Record<string, [type: string, body: string]> = {
  '/assets/app.css': ['text/css; charset=utf-8', APP_CSS],
  '/assets/app.js': ['text/javascript; charset=utf-8', APP_JS],
  '/favicon.ico': ['image/svg+xml', FAVICON_SVG],
};

/** The web pages: server-rendered HTML over the API, no build step, readable without JavaScript. */
export async function registerPages(app: FastifyInstance, db: Database, site: Site): Promise<void> {
  // Form bodies are parsed for the pages only (an encapsulated context): the API takes JSON.
  await app.register(async (pages) => {
    await pages.register(formbody);
    for (const [url, [type, body]] of Object.entries(ASSETS)) {
      pages.get(url, async (_request, reply) => reply.type(type).header('cache-control', 'public, max-age=3600').send(body));
    }
    sessionPages(pages, db, site);
    incidentPages(pages, site);
    settingsPages(pages, site);
    agentPages(pages, site);
    integrationPages(pages, site);
    tokenPages(pages, site);
    userPages(pages, site);
    upgradePages(pages, site);
  });
}

/** Whether a request is a page's (an answer in HTML), not the API's or a scraper's (JSON, text). */
export const wantsPage = (request: FastifyRequest): boolean => !/^\/(api|metrics)(\/|\?|$)/.test(request.url);

/** A page that is not there, in the site's layout. */
export async function pageNotFound(app: FastifyInstance, site: Site, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const viewer = await currentViewer(app, request);
  return sendPage(reply, errorPage(site, 404, `There is no page ${request.url.split('?')[0]}.`, viewer), 404);
}

/**
 * A page's failure, in the site's layout: what the client sent wrong (4xx) said as it is, a
 * server failure (logged with its request id) said without its internals.
 */
export function pageFailed(site: Site, error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
  if (status === 500) request.log.error({ err: error }, 'page failed');
  const message = status === 500 ? `This page failed (request ${request.id}); the server log has the details.` : error.message;
  return sendPage(reply, errorPage(site, status, message), status);
}
