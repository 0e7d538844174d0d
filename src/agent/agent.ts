import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { claimAnswer, enrolledAnswer, type Claim, type Enrolled } from '../shared/api-shapes.js';
import { AnswerError, errorMessage, readAnswer, shaped } from '../shared/answers.js';
import { isObject, parseJson } from '../shared/json.js';
import type { AgentConfig } from './config.js';
import { runRunbook } from './runner.js';
import { AgentState, type Credential } from './state.js';

/** The Tenant Plane refused this agent's credential (revoked, or the agent was never enrolled): fatal. */
export class CredentialRefused extends Error {}

/** The Tenant Plane refused the enrollment token. */
export class EnrollmentRefused extends Error {}

/** The Tenant Plane could not be reached, or answered with an error worth retrying. */
class Unreachable extends Error {}

const BACKOFF_BASE_MS = 500;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** An execution as the Tenant Plane hands it out, checked: its id becomes a file name of ours, its runbook is only looked up. */
export function claimedExecution(body: unknown): Claim['execution'] | undefined {
  const claim = readAnswer<Claim>(claimAnswer, body, 'POST /api/agent/executions/claim');
  return claim instanceof AnswerError || !UUID_RE.test(claim.execution.id) ? undefined : claim.execution;
}

/** Exponential backoff with full jitter, capped: a wait never exceeds the cap. */
export function backoffDelay(attempt: number, capMs: number): number {
  return Math.random() * Math.min(capMs, BACKOFF_BASE_MS * 2 ** attempt);
}

export async function enroll(config: AgentConfig, token: string, version: string): Promise<Credential> {
  const res = await fetch(`${config.server}/api/agents/enroll`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token, name: config.name, hostname: os.hostname(), version, runbooks: [...config.runbooks.keys()] }),
  });
  const body: unknown = await res.json().catch(() => ({}));
  if (res.status !== 201) throw new EnrollmentRefused(`enrollment refused (HTTP ${res.status}): ${errorMessage(body) || 'no message'}`);
  const { agent, credential } = shaped<Enrolled>(enrolledAnswer, body, 'POST /api/agents/enroll');
  return { agentId: agent.id, credential, server: config.server };
}

/**
 * The edge agent at work: reports in every interval, long-polls for executions, runs only its
 * own runbooks, and keeps each finished result on disk until the Tenant Plane acknowledges it.
 * While the Tenant Plane is unreachable it retries with capped, jittered backoff.
 */
export class EdgeAgent {
  private stopped = false;
  private readonly stopSignal = new AbortController();

  constructor(
    private readonly config: AgentConfig,
    private readonly state: AgentState,
    private readonly credential: Credential,
    private readonly version: string,
    private readonly log: Logger,
  ) {}

  private async call(path: string, body: unknown, timeoutMs = 10_000): Promise<{ status: number; body: Record<string, unknown> }> {
    let res: Response;
    try {
      res = await fetch(`${this.config.server}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${this.credential.credential}` },
        body: JSON.stringify(body),
        signal: AbortSignal.any([AbortSignal.timeout(timeoutMs), this.stopSignal.signal]),
      });
    } catch (err) {
      throw new Unreachable((err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message);
    }
    const text = await res.text();
    const parsed = text ? parseJson(text)?.value : {};
    if (res.status === 401) throw new CredentialRefused(errorMessage(parsed) || 'credential refused');
    if (res.status >= 500) throw new Unreachable(`HTTP ${res.status}`);
    // Not the Tenant Plane's answer (a proxy's page, say): retried like an unreachable one.
    if (!isObject(parsed)) throw new Unreachable(`HTTP ${res.status} with a body that is not a JSON object`);
    return { status: res.status, body: parsed };
  }

  /** Repeats `work` until it succeeds, waiting with backoff while the Tenant Plane is unreachable. */
  private async persist<T>(what: string, work: () => Promise<T>): Promise<T | undefined> {
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        const result = await work();
        if (attempt > 0) this.log.info({ what, attempts: attempt + 1 }, 'the Tenant Plane is reachable again');
        return result;
      } catch (err) {
        if (!(err instanceof Unreachable)) throw err;
        const delay = backoffDelay(attempt, this.config.backoffCapSeconds * 1000);
        this.log.warn({ what, attempt: attempt + 1, retryInMs: Math.round(delay), error: err.message }, 'the Tenant Plane is unreachable; retrying');
        await sleep(delay, undefined, { signal: this.stopSignal.signal }).catch(() => {});
      }
    }
    return undefined;
  }

  private checkin() {
    return this.call('/api/agent/checkin', { version: this.version, hostname: os.hostname(), runbooks: [...this.config.runbooks.keys()] });
  }

  private async heartbeat(): Promise<void> {
    while (!this.stopped) {
      await this.persist('check-in', () => this.checkin());
      await sleep(this.config.checkinIntervalSeconds * 1000, undefined, { signal: this.stopSignal.signal }).catch(() => {});
    }
  }

  private async report(): Promise<void> {
    for (const result of this.state.pendingResults()) {
      const { executionId, ...body } = result;
      const sent = await this.persist('report a result', () => this.call(`/api/agent/executions/${executionId}/result`, body));
      if (!sent) continue;
      // Acknowledged, or refused for good (the execution is unknown, or the result is not one
      // the Tenant Plane takes): either way it is done; a refusal is logged, and work goes on.
      if (sent.status !== 200)
        this.log.error(
          { execution: executionId, status: sent.status, message: sent.body.message },
          'the Tenant Plane refused this result for good; it is dropped',
        );
      this.state.acknowledge(executionId);
    }
  }

  private async work(): Promise<void> {
    while (!this.stopped) {
      await this.report();
      const claim = await this.persist('poll for work', () => this.call('/api/agent/executions/claim', { waitSeconds: 20 }, 30_000));
      const execution = claim?.status === 200 ? claimedExecution(claim.body) : undefined;
      if (!execution) {
        if (claim?.status === 200 && claim.body.execution)
          this.log.error(
            { answer: JSON.stringify(claim.body.execution).slice(0, 200) },
            'the Tenant Plane handed out an execution that is not one (its id must be a UUID): ignored',
          );
        continue;
      }
      this.log.info({ execution: execution.id, runbook: execution.runbook }, 'running');
      const result = await runRunbook(execution.runbook, this.config.runbooks.get(execution.runbook), this.config.outputLimitBytes);
      this.state.saveResult({ executionId: execution.id, ...result });
      this.log.info({ execution: execution.id, status: result.status, exitCode: result.exitCode }, 'finished');
    }
  }

  /** Runs until stopped; rejects with CredentialRefused when the Tenant Plane refuses this agent. */
  async run(): Promise<void> {
    this.log.info({ server: this.config.server, agent: this.credential.agentId, runbooks: [...this.config.runbooks.keys()] }, 'edge agent running');
    await Promise.all([this.heartbeat(), this.work()]).catch((err: unknown) => {
      this.stop();
      throw err;
    });
  }

  stop(): void {
    this.stopped = true;
    this.stopSignal.abort();
  }
}
