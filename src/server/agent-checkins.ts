import type { Queryable } from '../db/database.js';

export interface AgentFacts {
  version?: string;
  hostname?: string;
  runbooks?: string[];
}

/** One statement writes at most this many agents. */
const BATCH = 1_000;
const DEADLOCK = '40P01';

interface Pending {
  facts: AgentFacts;
  done: { resolve: (recorded: boolean) => void; reject: (err: unknown) => void }[];
}

/**
 * Agents' last-seen times and facts, written together: one UPDATE for all the check-ins that
 * arrive while the previous one runs (a group commit), so that the database's cost is per batch,
 * not per agent. A check-in is answered once its batch is written, as before; `record` says
 * whether the agent was still enrolled (a revoked one is not written).
 */
export class CheckinWriter {
  private pending = new Map<string, Pending>();
  private writing: Promise<void> | undefined;

  constructor(private readonly db: Queryable) {}

  record(agentId: string, facts: AgentFacts = {}): Promise<boolean> {
    return new Promise((resolve, reject) => {
      const entry = this.pending.get(agentId) ?? { facts: {}, done: [] };
      entry.facts = { ...entry.facts, ...definedOnly(facts) };
      entry.done.push({ resolve, reject });
      this.pending.set(agentId, entry);
      this.writing ??= this.writeAll();
    });
  }

  /** Resolves once nothing is left to write (before the database closes). */
  async settled(): Promise<void> {
    await this.writing;
  }

  private async writeAll(): Promise<void> {
    while (this.pending.size) {
      // In the order of the agents' ids, so that two replicas writing the same agents cannot deadlock (one retry covers it if they do).
      const batch = [...this.pending].slice(0, BATCH).sort(([a], [b]) => (a < b ? -1 : 1));
      for (const [id] of batch) this.pending.delete(id);
      try {
        const written = await this.write(batch).catch((err: unknown) => {
          if ((err as { code?: unknown }).code !== DEADLOCK) throw err;
          return this.write(batch);
        });
        for (const [id, { done }] of batch) for (const d of done) d.resolve(written.has(id));
      } catch (err) {
        for (const [, { done }] of batch) for (const d of done) d.reject(err);
      }
    }
    this.writing = undefined;
  }

  private async write(batch: [string, Pending][]): Promise<Set<string>> {
    const rows = await this.db.query<{ id: string }>(
      `UPDATE agents a SET last_seen_at = now(), version = coalesce(c.version, a.version), hostname = coalesce(c.hostname, a.hostname),
              runbooks = coalesce(c.runbooks::jsonb, a.runbooks)
         FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[]) AS c(id, version, hostname, runbooks)
        WHERE a.id = c.id AND a.revoked_at IS NULL RETURNING a.id`,
      [
        batch.map(([id]) => id),
        batch.map(([, p]) => p.facts.version ?? null),
        batch.map(([, p]) => p.facts.hostname ?? null),
        batch.map(([, p]) => (p.facts.runbooks ? JSON.stringify(p.facts.runbooks) : null)),
      ],
    );
    return new Set(rows.map((r) => r.id));
  }
}

function definedOnly(facts: AgentFacts): AgentFacts {
  return Object.fromEntries(Object.entries(facts).filter(([, v]) => v !== undefined));
}
