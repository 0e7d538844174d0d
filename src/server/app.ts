import type { KeyObject } from 'node:crypto';
import cookie from '@fastify/cookie';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Database } from '../db/database.js';
import type { MigrationFile } from '../db/migrations.js';
import { accessFor, registerAccessControl } from './auth/access.js';
import type { LoginThrottle } from './config.js';
import { apiIndexAnswer } from '../shared/api-shapes.js';
import { handleError, handleNotFound } from './errors.js';
import { ERROR_RESPONSES, registerOpenApi } from './openapi.js';
import { registerInputGuard } from './input-guard.js';
import { ATLAS_LICENSE_PUBLIC_KEY } from './license.js';
import { agentRoutes } from './routes/agents.js';
import { apiTokenRoutes } from './routes/api-tokens.js';
import { executionRoutes } from './routes/executions.js';
import { incidentRoutes } from './routes/incidents.js';
import { healthRoutes, watchHealth } from './routes/health.js';
import { CheckinWriter } from './agent-checkins.js';
import { CachedReads } from './cached-reads.js';
import { pageFailed, pageNotFound, registerPages, wantsPage } from './pages/index.js';
import { licenseRoutes } from './routes/license.js';
import { operationRoutes } from './routes/operations.js';
import { sessionRoutes } from './routes/session.js';
import { settingRoutes } from './routes/settings.js';
import { userRoutes } from './routes/users.js';
import { webhookRoutes } from './routes/webhooks.js';
import { countRequests, createMetrics, metricsRoute } from './metrics.js';
import { startWebhookDispatcher, type WebhookSettings } from './webhooks.js';

export interface AppOptions {
  db: Database;
  version: string;
  migrations: readonly MigrationFile[];
  logger: FastifyBaseLogger;
  sessionTtlSeconds: number;
  login: LoginThrottle;
  trustProxy: boolean;
  webhooks: WebhookSettings;
  /** An agent counts as online while it has reported within this many seconds. */
  agentOnlineSeconds: number;
  /** The bearer token Prometheus scrapes GET /metrics with (admins may read it too). */
  metricsToken: string | undefined;
  /** Tests sign their own licenses; the product verifies against AtlasAI's key. */
  licensePublicKey?: KeyObject;
  /** How long a client may take to send a whole request, headers and body (default REQUEST_TIMEOUT_MS). */
  requestTimeoutMs?: number;
}

/**
 * A request (headers and body; not the wait for its answer, which agents' long polls use) must
 * arrive within this: a client trickling a byte at a time cannot hold a connection for long.
 */
export const REQUEST_TIMEOUT_MS = 30_000;

/**
 * Behind a reverse proxy: the hops X-Forwarded-For names are trusted only while they are on
 * loopback or private networks, so the client address is the right-most hop that is not one of
 * ours (a client can write anything to the left of it).
 */
const TRUSTED_PROXIES = ['loopback', 'linklocal', 'uniquelocal'];

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'content-security-policy': "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
};

/** Assembles the Tenant Plane's HTTP app over an open, migrated database. */
export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const { db, version } = options;
  const app = Fastify({
    loggerInstance: options.logger,
    // One line per request, written by the onResponse hook below (health probes at debug).
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy: options.trustProxy ? TRUSTED_PROXIES : false,
    bodyLimit: 256 * 1024,
    // Node enforces it only when given as the server is made, and Fastify sets its own value
    // after that: both, then. Open requests are checked every second (Node's default: 30 s).
    requestTimeout: options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS,
    http: { requestTimeout: options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS, connectionsCheckingInterval: 1000 },
    ajv: { customOptions: { removeAdditional: false, allErrors: false } },
    return503OnClosing: true,
    // Errors the router raises before any route (bad URL encoding, overlong parameters).
    frameworkErrors: (error, request, reply) => void failed(error, request, reply),
  });
  // The API answers in JSON; a page's failure, and a page that is not there, are pages too.
  const site = { version };
  const failed = (error: FastifyError, request: FastifyRequest, reply: FastifyReply) =>
    wantsPage(request) ? pageFailed(site, error, request, reply) : handleError(error, request, reply);
  await app.register(cookie);
  app.setErrorHandler(failed);
  app.setNotFoundHandler((request, reply) => (wantsPage(request) ? pageNotFound(app, site, request, reply) : handleNotFound(request, reply)));
  // Once closing, each response also closes its keep-alive connection, so that a request still
  // in flight at SIGTERM does not leave an idle connection holding the process open; agents'
  // long polls are answered at once.
  let closing = false;
  const shutdown = new AbortController();
  app.addHook('preClose', async () => {
    closing = true;
    shutdown.abort();
  });
  app.addHook('onSend', async (_request, reply) => {
    void reply.headers(SECURITY_HEADERS);
    if (closing) void reply.header('connection', 'close');
  });
  app.addHook('onResponse', async (request, reply) => {
    const level = (request.url === '/api/health' || request.url === '/metrics') && reply.statusCode === 200 ? 'debug' : 'info';
    request.log[level]({ method: request.method, url: request.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request');
  });
  const cache = new CachedReads(db);
  const checkins = new CheckinWriter(db);
  const credentials = { db, cache, checkins };
  registerAccessControl(app, credentials);
  registerInputGuard(app);
  const metrics = createMetrics(db, version, options.agentOnlineSeconds);
  countRequests(app, metrics);
  metricsRoute(app, credentials, metrics, options.metricsToken);
  const webhooks = { ...options.webhooks, userAgent: `AtlasAI-TenantPlane/${version}`, counted: metrics.webhookDelivery };

  // The API's own index (GET /api): every API route with the access it requires and the JSON
  // schemas of what it takes.
  const index: { method: string; url: string; access: string; body?: unknown; query?: unknown }[] = [];
  app.addHook('onRoute', (route) => {
    if (!route.url.startsWith('/api')) return;
    route.schema = { ...route.schema, response: { ...ERROR_RESPONSES, ...(route.schema?.response as object | undefined) } };
    const takes = { ...(route.schema?.body ? { body: route.schema.body } : {}), ...(route.schema?.querystring ? { query: route.schema.querystring } : {}) };
    for (const method of [route.method].flat()) {
      if (method !== 'HEAD') index.push({ method, url: route.url, access: accessFor(route.url, route.config?.access), ...takes });
    }
  });
  await registerOpenApi(app, version);
  app.get('/api', { schema: { response: { 200: apiIndexAnswer } } }, async () => ({ version, routes: index }));

  const health = await watchHealth(db, options.migrations);
  healthRoutes(app, health, version);
  sessionRoutes(app, db, options.login, options.sessionTtlSeconds);
  apiTokenRoutes(app, db);
  userRoutes(app, db);
  settingRoutes(app, db, cache);
  licenseRoutes(app, db, version, options.licensePublicKey ?? ATLAS_LICENSE_PUBLIC_KEY);
  agentRoutes(app, db, options.agentOnlineSeconds, metrics, checkins);
  executionRoutes(app, db, shutdown.signal);
  incidentRoutes(app, db);
  webhookRoutes(app, db, webhooks);
  operationRoutes(app, db);
  await registerPages(app, db, site);

  let dispatcher: { stop: () => Promise<void> } | undefined;
  app.addHook('onReady', async () => {
    dispatcher = startWebhookDispatcher(db, webhooks, app.log);
  });
  app.addHook('onClose', async () => {
    await Promise.all([dispatcher?.stop(), health.stop(), cache.close(), checkins.settled()]);
  });
  return app;
}
