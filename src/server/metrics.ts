import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { agentsRepository } from '../db/agents.js';
import { settingsRepository } from '../db/settings.js';
import { parseBackupFileName, PROVEN_RESTORE_SETTING } from '../shared/names.js';
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
  // What tpctl recorded of the newest backup proven to restore (an admin may write the setting too:
  // read as untrusted). Labelled by the backup, so that there is no sample at all until one is.
  const proven = async (): Promise<{ backup: string; takenAt: number; provenAt: number } | undefined> => {
    const value = (await settingsRepository(db).find(PROVEN_RESTORE_SETTING))?.value as Record<string, unknown> | null | undefined;
    const backup = typeof value?.backup === 'string' && parseBackupFileName(value.backup) ? value.backup : undefined;
    const takenAt = typeof value?.takenAt === 'string' ? Date.parse(value.takenAt) : NaN;
    const provenAt = typeof value?.provenAt === 'string' ? Date.parse(value.provenAt) : NaN;
    return backup && Number.isFinite(takenAt) && Number.isFinite(provenAt) ? { backup, takenAt, provenAt } : undefined;
  };
  const provenGauge = (name: string, help: string, figure: (p: { takenAt: number; provenAt: number }) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['backup'],
      registers: [registry],
      async collect() {
        const p = await proven();
        this.reset();
        if (p) this.set({ backup: p.backup }, figure(p));
      },
    });
  provenGauge(
    'atlas_backup_last_proven_restore_timestamp_seconds',
    'When a backup was last proven to restore (a rehearsal, a drill), in Unix seconds',
    (p) => p.provenAt / 1000,
  );
  provenGauge(
    'atlas_backup_proven_age_seconds',
    'The age of the newest backup proven to restore: seconds since it was taken',
    (p) => (Date.now() - p.takenAt) / 1000,
  );
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
