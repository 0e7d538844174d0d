import formbody from '@fastify/formbody';
import type { FastifyInstance } from 'fastify';
import type { Database } from '../../db/database.js';
import { APP_CSS } from './assets.js';
import { incidentPages } from './incidents.js';
import { sessionPages } from './session.js';
import { settingsPages } from './settings.js';

/** The web pages: server-rendered HTML over the API, no build step, readable without JavaScript. */
export async function registerPages(app: FastifyInstance, db: Database): Promise<void> {
  // Form bodies are parsed for the pages only (an encapsulated context): the API takes JSON.
  await app.register(async (pages) => {
    await pages.register(formbody);
    pages.get('/assets/app.css', async (_request, reply) =>
      reply.type('text/css; charset=utf-8').header('cache-control', 'public, max-age=3600').send(APP_CSS),
    );
    sessionPages(pages, db);
    incidentPages(pages);
    settingsPages(pages);
  });
}
