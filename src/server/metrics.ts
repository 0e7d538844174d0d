import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { agentsRepository } from '../db/agents.js';
import type { Database } from '../db/database.js';
import { requireUser, type Credentials } from './auth/access.js';

/**
 * What the Tenant Plane counts, in the Prometheus text format at GET /metrics: requests by route
 * and status class with their latency, webhook deliveries by outcome, agent check-ins and agents
 * online, the process's own metrics, and the version it runs. One registry per app.
 */
export interface Metrics {
  registry: Registry;
  webhookDelivery: (outcome: 'delivered' | 'retrying' | 'failed') => void;
  agentCheckin: () => void;
}

export function createMetrics(db: Database, version: string, agentOnlineSeconds: number): Metrics {
  const registry = new Registry();
  const agents = agentsRepository(db, agentOnlineSeconds);
  collectDefaultMetrics({ register: registry });
  new Gauge({ name: 'atlas_build_info', help: 'The version of the Tenant Plane that runs (always 1)', labelNames: ['version'], registers: [registry] }).set(
    { version },
    1,
  );
  const deliveries = new Counter({
    name: 'atlas_webhook_deliveries_total',
    help: 'Webhook delivery attempts by outcome',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const checkins = new Counter({ name: 'atlas_agent_checkins_total', help: 'Edge agent check-ins', registers: [registry] });
  new Gauge({
    name: 'atlas_agents_online',
    help: `Edge agents seen within the last ${agentOnlineSeconds} s`,
    registers: [registry],
    async collect() {
      this.set(await agents.countOnline());
    },
  });
  return {
    registry,
    webhookDelivery: (outcome) => deliveries.inc({ outcome }),
    agentCheckin: () => checkins.inc(),
  };
}

/** The request counters and the latency histogram, by route pattern (never the raw URL: its values would be unbounded). */
export function countRequests(app: FastifyInstance, metrics: Metrics): void {
  const requests = new Counter({
    name: 'atlas_http_requests_total',
    help: 'HTTP requests by route and status class',
    labelNames: ['method', 'route', 'status_class'],
    registers: [metrics.registry],
  });
  const duration = new Histogram({
    name: 'atlas_http_request_duration_seconds',
    help: 'HTTP request latency by route',
    labelNames: ['method', 'route'],
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [metrics.registry],
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    requests.inc({ method: request.method, route, status_class: `${Math.floor(reply.statusCode / 100)}xx` });
    duration.observe({ method: request.method, route }, reply.elapsedTime / 1000);
  });
}

const sameSecret = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

/**
 * GET /metrics, for Prometheus: a bearer token (ATLAS_METRICS_TOKEN) or an admin (session or
 * API token; the access hook has checked those). Anonymous requests are refused.
 */
export function metricsRoute(app: FastifyInstance, credentials: Credentials, metrics: Metrics, token: string | undefined): void {
  app.get('/metrics', { config: { access: 'public' } }, async (request, reply) => {
    const bearer = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1];
    if (!(token && bearer && sameSecret(bearer, token))) await requireUser(credentials, request, 'admin');
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
}
