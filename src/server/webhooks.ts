import { withoutControlCharacters } from '../shared/text.js';
import { createHmac } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { FastifyBaseLogger } from 'fastify';
import type { Database } from '../db/database.js';
import { checkWebhookUrl, guardedLookup, WebhookPolicyError, type WebhookPolicy } from './webhook-policy.js';

export interface WebhookSettings {
  /** How often due deliveries are looked for. */
  pollMs: number;
  /** Attempts before a delivery is given up as failed. */
  maxAttempts: number;
  /** Wait after the first failed attempt; doubled after each further one. */
  backoffMs: number;
  /** Where deliveries may go (ATLAS_WEBHOOK_ALLOW). */
  policy: WebhookPolicy;
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
  /** The first bytes of the receiver's answer (for an admin's test: what the receiver said back). */
  answer: string | null;
}

/** How much of a receiver's answer is kept: enough to read its error, never its whole page. */
const ANSWER_BYTES = 200;

/** POSTs the body; resolves with the HTTP status and the answer's first bytes. Redirects are not followed. */
function post(url: URL, headers: Record<string, string>, body: string, policy: WebhookPolicy): Promise<{ status: number; answer: string }> {
  return new Promise((resolve, reject) => {
    const request = (url.protocol === 'https:' ? https : http).request(url, {
      method: 'POST',
      headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
      lookup: guardedLookup(policy, url),
      timeout: TIMEOUT_MS,
    });
    request.once('timeout', () => request.destroy(new Error('timed out')));
    request.once('error', reject);
    request.once('response', (res) => {
      let head = Buffer.alloc(0);
      res.on('data', (chunk: Buffer) => {
        if (head.length < ANSWER_BYTES) head = Buffer.concat([head, chunk]).subarray(0, ANSWER_BYTES);
      });
      res.once('end', () => resolve({ status: res.statusCode ?? 0, answer: withoutControlCharacters(head.toString('utf8')) }));
      res.once('error', reject);
    });
    request.end(body);
  });
}

/**
 * Sends one delivery. What goes wrong is said as little as it must be: the HTTP status, a refusal
 * of the webhook policy, or "unreachable" (no finer: the answer must not map the network).
 */
async function send(d: Claimed, settings: WebhookDelivery): Promise<Omit<DeliveryOutcome, 'status'>> {
  const body = JSON.stringify(d.payload);
  const timestamp = Math.floor(Date.now() / 1000);
  try {
    await checkWebhookUrl(settings.policy, d.url, { resolve: false });
    const { status, answer } = await post(
      new URL(d.url),
      {
        'content-type': 'application/json',
        'user-agent': settings.userAgent,
        'x-atlas-event': d.event,
        'x-atlas-delivery': d.id,
        'x-atlas-signature': signWebhook(d.secret, timestamp, body),
      },
      body,
      settings.policy,
    );
    return { statusCode: status, error: status >= 200 && status < 300 ? null : `HTTP ${status}`, answer };
  } catch (err) {
    if (err instanceof WebhookPolicyError) return { statusCode: null, error: `refused by the webhook policy: ${err.message}`, answer: null };
    return { statusCode: null, error: 'unreachable', answer: null };
  }
}

const CLAIM = `UPDATE webhook_deliveries d SET attempts = d.attempts + 1, next_attempt_at = now() + ${LEASE_SECONDS} * interval '1 second'
  FROM webhooks w WHERE w.id = d.webhook_id AND d.id IN (
    SELECT id FROM webhook_deliveries WHERE status = 'pending' AND (CASE WHEN $1::bigint IS NULL THEN next_attempt_at <= now() ELSE id = $1 END)
     ORDER BY id LIMIT 10 FOR UPDATE SKIP LOCKED)
  RETURNING d.id::text AS id, d.event, d.payload, d.attempts, w.url, w.secret`;

/**
 * Claims (SKIP LOCKED: one replica per delivery), sends and records due deliveries; `only` names
 * one delivery to send now, due or not.
 */
export async function deliverDue(db: Database, settings: WebhookDelivery, only?: string): Promise<Map<string, DeliveryOutcome>> {
  const claimed = await db.query<Claimed>(CLAIM, [only ?? null]);
  const outcomes = new Map<string, DeliveryOutcome>();
  await Promise.all(
    claimed.map(async (d) => {
      const { statusCode, error, answer } = await send(d, settings);
      const status = error === null ? 'delivered' : d.attempts >= settings.maxAttempts ? 'failed' : 'pending';
      settings.counted(status === 'pending' ? 'retrying' : status);
      await db.query(
        `UPDATE webhook_deliveries SET status = $2, last_status_code = $3, last_error = $4,
                delivered_at = CASE WHEN $2 = 'delivered' THEN now() END,
                next_attempt_at = now() + $5 * interval '1 millisecond'
          WHERE id = $1`,
        [d.id, status, statusCode, error, settings.backoffMs * 2 ** (d.attempts - 1)],
      );
      outcomes.set(d.id, { status, statusCode, error, answer });
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
