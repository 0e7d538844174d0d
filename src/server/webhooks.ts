import { createHmac } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import type { Database } from '../db/database.js';

export interface WebhookSettings {
  /** How often due deliveries are looked for. */
  pollMs: number;
  /** Attempts before a delivery is given up as failed. */
  maxAttempts: number;
  /** Wait after the first failed attempt; doubled after each further one. */
  backoffMs: number;
}

/** The settings, with who sends (the User-Agent names the version) and where outcomes are counted. */
export interface WebhookDelivery extends WebhookSettings {
  userAgent: string;
  counted: (outcome: 'delivered' | 'retrying' | 'failed') => void;
}

const TIMEOUT_MS = 5_000;
/** A claimed delivery is due again after this, should the process sending it die. */
const LEASE_SECONDS = 60;

/**
 * The signature receivers check: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the
 * webhook's secret>`. The timestamp inside the MAC lets them refuse replays of old deliveries.
 */
export function signWebhook(secret: string, timestamp: number, body: string): string {
  return `t=${timestamp},v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

type Claimed = {
  id: string;
  event: string;
  payload: unknown;
  attempts: number;
  url: string;
  secret: string;
};

export interface DeliveryOutcome {
  status: 'delivered' | 'pending' | 'failed';
  statusCode: number | null;
  error: string | null;
}

async function send(d: Claimed, userAgent: string): Promise<{ statusCode: number | null; error: string | null }> {
  const body = JSON.stringify(d.payload);
  const timestamp = Math.floor(Date.now() / 1000);
  try {
    const res = await fetch(d.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': userAgent,
        'x-atlas-event': d.event,
        'x-atlas-delivery': d.id,
        'x-atlas-signature': signWebhook(d.secret, timestamp, body),
      },
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    await res.arrayBuffer().catch(() => undefined);
    return { statusCode: res.status, error: res.ok ? null : `HTTP ${res.status}` };
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    return { statusCode: null, error: cause?.code ?? cause?.message ?? (err as Error).message };
  }
}

const CLAIM = `UPDATE webhook_deliveries d SET attempts = d.attempts + 1, next_attempt_at = now() + ${LEASE_SECONDS} * interval '1 second'
  FROM webhooks w WHERE w.id = d.webhook_id AND d.id IN (
    SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= now() AND ($1::bigint IS NULL OR id = $1)
     ORDER BY id LIMIT 10 FOR UPDATE SKIP LOCKED)
  RETURNING d.id::text AS id, d.event, d.payload, d.attempts, w.url, w.secret`;

/** Claims (SKIP LOCKED: one replica per delivery), sends and records due deliveries; `only` limits it to one. */
export async function deliverDue(db: Database, settings: WebhookDelivery, only?: string): Promise<Map<string, DeliveryOutcome>> {
  const claimed = await db.query<Claimed>(CLAIM, [only ?? null]);
  const outcomes = new Map<string, DeliveryOutcome>();
  await Promise.all(
    claimed.map(async (d) => {
      const { statusCode, error } = await send(d, settings.userAgent);
      const status = error === null ? 'delivered' : d.attempts >= settings.maxAttempts ? 'failed' : 'pending';
      settings.counted(status === 'pending' ? 'retrying' : status);
      await db.query(
        `UPDATE webhook_deliveries SET status = $2, last_status_code = $3, last_error = $4,
                delivered_at = CASE WHEN $2 = 'delivered' THEN now() END,
                next_attempt_at = now() + $5 * interval '1 millisecond'
          WHERE id = $1`,
        [d.id, status, statusCode, error, settings.backoffMs * 2 ** (d.attempts - 1)],
      );
      outcomes.set(d.id, { status, statusCode, error });
    }),
  );
  return outcomes;
}

/** Delivers webhooks in the background until stopped; a failed round is logged and retried. */
export function startWebhookDispatcher(db: Database, settings: WebhookDelivery, log: FastifyBaseLogger): { stop: () => Promise<void> } {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let round: Promise<void> = Promise.resolve();
  const tick = () => {
    round = deliverDue(db, settings)
      .then((outcomes) => {
        for (const [id, o] of outcomes) if (o.status !== 'delivered') log.warn({ delivery: id, ...o }, 'webhook delivery failed');
      })
      .catch((err: unknown) => log.warn({ err: (err as Error).message }, 'webhook deliveries could not be processed'))
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, settings.pollMs);
      });
  };
  timer = setTimeout(tick, settings.pollMs);
  return {
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await round;
    },
  };
}
