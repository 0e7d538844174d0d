import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import pino from 'pino';
import { afterAll, beforeAll } from 'vitest';
import type { Database } from '../../src/db/database.js';
import { loadMigrations, migrate } from '../../src/db/migrations.js';
import { createUser, type Role } from '../../src/db/users.js';
import { buildApp } from '../../src/server/app.js';
import { backends } from './backends.js';
import { checkResponses } from './response-check.js';
import type { LoginThrottle } from '../../src/server/config.js';
import { parseWebhookAllow } from '../../src/server/webhook-policy.js';

export const TEST_VERSION = '1.3.0';
export const PASSWORD = 'correct-horse-battery';

/** A license key pair of the tests' own: the app under test trusts its public half. */
export const licenseKeys: { publicKey: KeyObject; privateKey: KeyObject } = generateKeyPairSync('ed25519');

export interface TestApp {
  app: FastifyInstance;
  db: Database;
}

/** The token the test app's GET /metrics takes. */
export const METRICS_TOKEN = 'test-metrics-token-0123456789';

export async function startTestApp(
  db: Database,
  options: { login?: Partial<LoginThrottle>; trustProxy?: boolean; webhookAllow?: string; requestTimeoutMs?: number } = {},
): Promise<TestApp> {
  const migrations = loadMigrations();
  await migrate(db, migrations, TEST_VERSION);
  const app = await buildApp({
    db,
    version: TEST_VERSION,
    migrations,
    logger: pino({ level: 'silent' }),
    sessionTtlSeconds: 3600,
    login: { windowSeconds: 900, maxPerAccount: 5, maxPerAddress: 50, ...options.login },
    trustProxy: options.trustProxy ?? false,
    // The tests' receivers listen on loopback, which the policy refuses unless allowed.
    webhooks: { pollMs: 200, maxAttempts: 3, backoffMs: 100, policy: parseWebhookAllow(options.webhookAllow ?? '127.0.0.1') },
    agentOnlineSeconds: 45,
    metricsToken: METRICS_TOKEN,
    licensePublicKey: licenseKeys.publicKey,
    requestTimeoutMs: options.requestTimeoutMs,
  });
  checkResponses(app);
  await app.ready();
  return { app, db };
}

export async function addUser(db: Database, email: string, role: Role): Promise<void> {
  const user = await createUser(db, { email, password: PASSWORD, role });
  if (!user) throw new Error(`user ${email} exists`);
}

/** Logs in and returns the Cookie header value to send with later requests. */
export async function login(app: FastifyInstance, email: string, password = PASSWORD): Promise<string> {
  const res = await app.inject({ method: 'POST', url: '/api/login', payload: { email, password } });
  if (res.statusCode !== 200) throw new Error(`login ${email}: ${res.statusCode} ${res.body}`);
  const cookie = res.cookies.find((c) => c.name === 'atlas_session');
  if (!cookie) throw new Error('no session cookie');
  return `atlas_session=${cookie.value}`;
}

export function json(res: LightMyRequestResponse): Record<string, unknown> {
  return res.json<Record<string, unknown>>();
}

/**
 * For the tests of one describe block: a test app on PostgreSQL with an admin and a viewer
 * signed in (their session cookies), started before them and closed after.
 */
export function signedInApp(): { app: FastifyInstance; db: Database; admin: string; viewer: string } {
  const t = {} as { app: FastifyInstance; db: Database; admin: string; viewer: string };
  beforeAll(async () => {
    t.db = await backends[0]!.open();
    ({ app: t.app } = await startTestApp(t.db));
    await addUser(t.db, 'admin@example.com', 'admin');
    await addUser(t.db, 'viewer@example.com', 'viewer');
    t.admin = await login(t.app, 'admin@example.com');
    t.viewer = await login(t.app, 'viewer@example.com');
  });
  afterAll(async () => {
    await t.app?.close();
    await t.db?.close();
  });
  return t;
}
