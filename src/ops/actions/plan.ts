import type { OpsContext, Plan } from '../engine/engine.js';
import type { Step } from '../engine/step.js';
import { gate } from '../steps/gate.js';

/**
 * The plan of an upgrade or rollback from `from`: a failure goes back to it, confirmed by its own
 * gate (its checklist reported, not acted on), and a human's first try is the rollback to it.
 */
export function planFrom(ctx: OpsContext, op: Plan['op'], from: string, to: string, steps: Step[], more: Pick<Plan, 'given' | 'restores'> = {}): Plan {
  return { op, from, to, steps, confirmBack: gate(ctx, from, { decisive: false }), recordSuccess: true, whenStuck: [{ do: 'rollback', to: from }], ...more };
}
