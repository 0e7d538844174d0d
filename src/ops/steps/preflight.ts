import type { OpsContext } from '../engine/engine.js';
import type { Step } from '../engine/step.js';
import { outputs } from './outputs.js';

/** Reads only: the checks that need the plan's versions, and the agents online before anything changes. */
export function preflight(ctx: OpsContext, check: () => Promise<string>): Step {
  return {
    name: 'preflight',
    what: 'check that the target can be worked on; note the agents online',
    produces: [outputs.agentBaseline],
    async run(facts) {
      const detail = await check();
      const agents = await ctx.tenantPlane.onlineAgents();
      if (agents) {
        facts.put(outputs.agentBaseline, agents);
        ctx.log.write(`agents online before the switch: ${Object.values(agents.agents).join(', ') || 'none'}`);
      }
      return detail;
    },
  };
}
