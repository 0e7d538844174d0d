import type { DatabaseWork } from '../backup/database-work.js';
import type { OpsContext, Plan } from '../engine/engine.js';
import type { Step } from '../engine/step.js';
import type { Apart } from '../runtimes/runtime.js';
import { gate } from '../steps/gate.js';

/**
 * The plan of an upgrade or rollback from `from`: a failure goes back to it, confirmed by its own
 * gate (its checklist reported, not acted on), and a human's first try is the rollback to it.
 */
export function planFrom(
  ctx: OpsContext,
  op: Plan['op'],
  from: string,
  to: string,
  steps: Step[],
  more: Pick<Plan, 'given' | 'restores' | 'unrehearsed'> & Partial<Pick<Plan, 'recordSuccess'>> = {},
): Plan {
  return { op, from, to, steps, confirmBack: gate(ctx, from, { decisive: false }), recordSuccess: true, whenStuck: [{ do: 'rollback', to: from }], ...more };
}

/** Whether an operation rehearses on a copy first: by default where it can, not at all, or only that. */
export type Rehearsing = 'yes' | 'no' | 'only';

/** What a rehearsal needs (the runtime's versions apart, PostgreSQL on its server), or why there is none. */
export async function rehearsalWhere(ctx: OpsContext, asked: Rehearsing = 'yes'): Promise<{ apart: Apart; database: DatabaseWork } | { skipped: string }> {
  if (asked === 'no') return { skipped: 'skipped, as asked (--no-rehearsal)' };
  const { database, runtime } = ctx;
  if (!database) return { skipped: 'the database is not reachable from here (DB_URL)' };
  if (database.embedded) return { skipped: "the embedded database is one process's: it is not copied while the Tenant Plane holds it" };
  const apart = await runtime.apart?.();
  if (!apart) return { skipped: `on ${runtime.name} the versions run in the cluster, not from here` };
  if ('cannot' in apart) return { skipped: apart.cannot };
  return { apart, database };
}
