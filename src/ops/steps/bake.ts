import type { OpsContext } from '../engine/engine.js';
import type { Step } from '../engine/step.js';
import { bake, takeBaseline, type Figures } from '../probes/bake.js';
import { checked } from './gate.js';
import { outputs } from './outputs.js';

/** A bake's figures on one line: the run log's, and what tpctl reports of them. */
export const figuresLine = (f: Figures) =>
  `${Object.entries(f.routes)
    .map(([route, r]) => `${route} p95 ${r.p95} ms (${r.n})`)
    .join(', ')}; 5xx: ${f.errors5xx ?? 'not read'}; agents online: ${f.agentsOnline ?? 'not read'}`;

/** Before anything changes, on the version that runs: what the bake compares the new version with. */
export function baselineStep(ctx: OpsContext): Step {
  const s = ctx.settings.bake;
  return {
    name: 'baseline',
    what: `probe ${ctx.tenantPlane.probeRoutes.join(', ')} for ${s.baselineMs / 1000} s (a round every ${s.roundMs} ms) and read the server's counters`,
    produces: [outputs.baseline],
    async run(facts) {
      const baseline = await takeBaseline(ctx.tenantPlane, s);
      facts.put(outputs.baseline, baseline);
      const webhooks = baseline.webhooksDelivering.map((w) => w.name);
      return `${figuresLine(baseline)}; webhooks delivering: ${webhooks.join(', ') || 'none'}`;
    },
  };
}

/**
 * After the gate: the new version watched for `ATLAS_BAKE_SECONDS`, against the baseline (see
 * probes/bake.ts). The first decisive signal fails the step, and with it the upgrade.
 */
export function bakeStep(ctx: OpsContext, version: string, beside: boolean): Step {
  const s = ctx.settings.bake;
  return {
    name: 'bake',
    what: `watch ${version}${beside ? ', the candidate,' : ''} for ${s.seconds} s: health, authenticated reads, webhooks, latency (p95 within x${s.maxLatencyRatio} of the baseline), 5xx answers`,
    reads: [outputs.baseline, ...(beside ? [outputs.candidate] : [])],
    produces: [outputs.bake],
    async run(facts) {
      const baseline = facts.get(outputs.baseline);
      if (!baseline) throw new Error('no baseline was taken to compare with');
      const report = await bake(checked(ctx, beside, facts).tenantPlane, version, baseline, s, (line) => ctx.log.write(line));
      facts.put(outputs.bake, report);
      ctx.log.write(`   baseline: ${figuresLine(report.baseline)}`);
      ctx.log.write(`   bake:     ${figuresLine(report.bake)}`);
      if (report.signals.length) throw new Error(report.signals.join('; '));
      return `nothing to roll back for in ${s.seconds} s`;
    },
  };
}
