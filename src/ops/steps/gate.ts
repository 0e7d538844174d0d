import type { OpsContext } from '../engine/engine.js';
import { StepFailed } from '../engine/engine.js';
import type { Facts, Step } from '../engine/step.js';
import { waitHealthy } from '../probes/health.js';
import { crashOf } from '../runtimes/runtime.js';
import { outputs } from './outputs.js';

/**
 * What a gate or a bake checks: the candidate the run started (`beside`), else what runs.
 * Declaring `outputs.candidate` as an input is the caller's.
 */
export function checked(ctx: OpsContext, beside: boolean, facts: Facts) {
  if (!beside) return ctx;
  const started = facts.get(outputs.candidate);
  if (!started) throw new Error('no candidate was started');
  return { runtime: started.candidate, tenantPlane: started.tenantPlane };
}

/**
 * The gate after a switch: the health endpoint answers "ok" for the version (failing at once
 * when it crashes), the version file inside what runs says it, and the recovery checklist
 * passes. On the way back to the known version (`decisive` false) the checklist is reported,
 * not acted on: there is nowhere safer to go. `beside`: the candidate is checked, at its own address.
 */
export function gate(ctx: OpsContext, version: string, options: { decisive: boolean; beside?: boolean }): Step[] {
  const { settings, log } = ctx;
  const beside = options.beside ?? false;
  const candidate = beside ? [outputs.candidate] : [];
  const where = beside ? `the candidate's own health endpoint` : ctx.tenantPlane.healthUrl;
  const steps: Step[] = [
    {
      name: 'wait-healthy',
      what: `wait until ${where} answers "ok" for ${version} (up to ${Math.round(settings.healthTimeoutMs / 1000)} s)`,
      reads: candidate,
      produces: [outputs.health],
      async run(facts) {
        const { runtime, tenantPlane } = checked(ctx, beside, facts);
        const wait = await waitHealthy({ probe: () => tenantPlane.health(), version, timeoutMs: settings.healthTimeoutMs, crashed: crashOf(runtime) });
        if (wait.evidence) facts.put(outputs.health, wait.evidence);
        if (!wait.healthy) {
          const logsTail = await runtime.logsTail(20).catch(() => undefined);
          if (logsTail)
            log.write(
              `   last log lines of the Tenant Plane:\n${logsTail
                .split('\n')
                .map((l) => `     | ${l}`)
                .join('\n')}`,
            );
          throw new StepFailed('wait-healthy', wait.reason, undefined, logsTail);
        }
        return `healthy after ${wait.elapsedMs} ms: ${wait.evidence?.body ?? ''}`;
      },
    },
    {
      name: 'verify',
      what: `check the version file inside the running ${beside ? 'candidate' : 'Tenant Plane'}`,
      reads: candidate,
      async run(facts) {
        const running = await checked(ctx, beside, facts).runtime.runningVersion();
        if (running !== version) throw new Error(`the running Tenant Plane's version file (.atlas-version) says ${running ?? 'nothing'}, not ${version}`);
        return `the running Tenant Plane's version file (.atlas-version) says ${running}`;
      },
    },
  ];
  if (!ctx.tenantPlane.checklist) return steps;
  steps.push({
    name: 'checklist',
    what: `the recovery checklist${beside ? ' on the candidate' : ''}: health, version in /api/admin/license, a login, the agents back`,
    reads: [...candidate, outputs.agentBaseline],
    async run(facts) {
      // A candidate is reached with the same identity, so it has the checklist too.
      const result = await checked(ctx, beside, facts).tenantPlane.checklist!(version, facts.get(outputs.agentBaseline));
      for (const c of result.checks) log.write(`   ${c.ok ? 'PASS' : 'FAIL'} ${c.name}: ${c.evidence}`);
      if (!result.ok && options.decisive)
        throw new Error(
          result.checks
            .filter((c) => !c.ok)
            .map((c) => `${c.name}: ${c.evidence}`)
            .join('; '),
        );
      return result.ok ? `${result.checks.length} checks passed` : 'checks failed (see above); kept going back to the known version';
    },
  });
  return steps;
}
