import { onlineAgents, runChecklist, type AgentBaseline, type Check, type VerifyAuth } from './checklist.js';
import { probeHealth, type HealthEvidence } from './health.js';

/**
 * The running Tenant Plane as tpctl sees it: over HTTP, the way an operator does (health, a
 * login, the license, the agents). The lifecycle uses only this interface.
 */
export interface TenantPlane {
  /** Where it answers, for messages. */
  readonly healthUrl: string;
  health(): Promise<HealthEvidence>;
  /**
   * The recovery checklist for a version (a login, the license's version, the agents of the
   * baseline back); undefined when no verification identity is set.
   */
  readonly checklist: ((version: string, baseline: AgentBaseline | undefined) => Promise<{ ok: boolean; checks: Check[] }>) | undefined;
  /** The agents online now (undefined without a verification identity, or when it cannot tell). */
  onlineAgents(): Promise<AgentBaseline | undefined>;
}

export interface Verification {
  auth: VerifyAuth;
  agentsWithinMs: number;
}

export function tenantPlaneOverHttp(healthUrl: string, verify: Verification | undefined): TenantPlane {
  return {
    healthUrl,
    health: () => probeHealth(healthUrl),
    checklist: verify && ((version, baseline) => runChecklist({ healthUrl, expectVersion: version, auth: verify.auth, agentsWithinMs: verify.agentsWithinMs, baseline })),
    onlineAgents: async () => (verify ? onlineAgents(healthUrl, verify.auth) : undefined),
  };
}
