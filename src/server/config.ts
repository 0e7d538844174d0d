import { passwordProblem } from '../shared/password.js';
import { parseWebhookAllow, WebhookPolicyError, type WebhookPolicy } from './webhook-policy.js';
import type { WebhookSettings } from './webhooks.js';

export interface ServerConfig {
  host: string;
  port: number;
  /** Serve the connections the local supervisor hands over (ATLAS_HANDOFF=1), beside its own address. */
  handoff: boolean;
  /** PostgreSQL URL; absent → the embedded database in dataDir. */
  dbUrl: string | undefined;
  dataDir: string;
  /** How long start-up keeps trying to reach the database before giving up. */
  dbWaitSeconds: number;
  admin: { email: string; password: string } | undefined;
  sessionTtlSeconds: number;
  login: LoginThrottle;
  /** Behind a reverse proxy: trust X-Forwarded-For / -Proto (client address, HTTPS cookies). */
  trustProxy: boolean;
  logLevel: string;
  webhooks: WebhookSettings;
  agentOnlineSeconds: number;
  metricsToken: string | undefined;
}

export interface LoginThrottle {
  windowSeconds: number;
  /** Failed logins for one account within the window before it is refused. */
  maxPerAccount: number;
  /** Failed logins from one client address within the window before it is refused. */
  maxPerAddress: number;
}

export class ConfigError extends Error {}

type Env = Record<string, string | undefined>;

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name}=${raw.slice(0, 40)} is not valid: expected a whole number from ${min} to ${max}`);
  }
  return value;
}

function metricsToken(raw: string | undefined): string | undefined {
  if (!raw) return undefined;
  if (raw.length < 16 || /\s/.test(raw))
    throw new ConfigError('ATLAS_METRICS_TOKEN must be at least 16 characters, without spaces (e.g. openssl rand -hex 24)');
  return raw;
}

function webhookPolicy(raw: string | undefined): WebhookPolicy {
  try {
    return parseWebhookAllow(raw);
  } catch (err) {
    if (err instanceof WebhookPolicyError) throw new ConfigError(err.message);
    throw err;
  }
}

export function configFromEnv(env: Env = process.env): ServerConfig {
  const dbUrl = env.DB_URL || undefined;
  if (dbUrl && !/^postgres(ql)?:\/\//.test(dbUrl)) {
    throw new ConfigError('DB_URL must be a postgresql:// URL, e.g. postgresql://atlasusr:password@localhost:5432/atlas');
  }
  const adminEmail = env.ATLAS_ADMIN_EMAIL || undefined;
  const adminPassword = env.ATLAS_ADMIN_PASSWORD || undefined;
  if (Boolean(adminEmail) !== Boolean(adminPassword)) {
    throw new ConfigError('set both ATLAS_ADMIN_EMAIL and ATLAS_ADMIN_PASSWORD to create the first admin, or neither');
  }
  const problem = adminPassword ? passwordProblem(adminPassword) : undefined;
  if (problem) throw new ConfigError(`ATLAS_ADMIN_PASSWORD: ${problem}`);
  return {
    host: env.ATLAS_HOST || '0.0.0.0',
    port: integer(env, 'ATLAS_PORT', 3000, 0, 65535),
    handoff: env.ATLAS_HANDOFF === '1',
    dbUrl,
    dataDir: env.ATLAS_DATA_DIR || './data',
    dbWaitSeconds: integer(env, 'ATLAS_DB_WAIT', 30, 0, 3600),
    admin: adminEmail && adminPassword ? { email: adminEmail, password: adminPassword } : undefined,
    sessionTtlSeconds: integer(env, 'ATLAS_SESSION_TTL', 12 * 3600, 60, 30 * 24 * 3600),
    login: {
      windowSeconds: integer(env, 'ATLAS_LOGIN_WINDOW', 900, 1, 86_400),
      maxPerAccount: integer(env, 'ATLAS_LOGIN_MAX_FAILURES', 5, 1, 1000),
      maxPerAddress: integer(env, 'ATLAS_LOGIN_MAX_FAILURES_PER_ADDRESS', 50, 1, 100_000),
    },
    trustProxy: env.ATLAS_TRUST_PROXY === '1' || env.ATLAS_TRUST_PROXY === 'true',
    logLevel: env.ATLAS_LOG_LEVEL || 'info',
    agentOnlineSeconds: integer(env, 'ATLAS_AGENT_ONLINE_SECONDS', 45, 1, 86_400),
    metricsToken: metricsToken(env.ATLAS_METRICS_TOKEN),
    webhooks: {
      pollMs: integer(env, 'ATLAS_WEBHOOK_POLL_MS', 1000, 10, 60_000),
      maxAttempts: integer(env, 'ATLAS_WEBHOOK_MAX_ATTEMPTS', 6, 1, 50),
      backoffMs: integer(env, 'ATLAS_WEBHOOK_BACKOFF_MS', 10_000, 1, 3_600_000),
      policy: webhookPolicy(env.ATLAS_WEBHOOK_ALLOW),
    },
  };
}
