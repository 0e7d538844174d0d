import { runChecklist } from '../../ops/probes/checklist.js';
import { parseFlags, targetVersion, type Command } from '../command.js';
import { CliError } from '../io.js';

export const command: Command = {
  help: `Usage: tpctl verify [--expect-version VERSION] [--agents-within SECONDS] [--json]

Runs the operator guide's recovery checklist against the running Tenant Plane (HEALTH_URL):

  health    GET /api/health answers "status":"ok"
  login     a login works, as the verification identity: ATLAS_VERIFY_TOKEN (an API token),
            or ATLAS_VERIFY_EMAIL and ATLAS_VERIFY_PASSWORD (never on the command line).
            Use a dedicated account; it must be an admin to read the license.
  version   GET /api/admin/license shows VERSION (default: the version health reports)
  agents    every edge agent online at the start reports in again, within SECONDS (default 60)

Each check prints PASS or FAIL with its evidence. tpctl upgrade and tpctl rollback run the same
checklist after each switch when a verification identity is set; a failure rolls back.

Exit code: 0 every check passed, 1 one failed, 2 bad input.

Examples:
  ATLAS_VERIFY_TOKEN=atp_… tpctl verify
  ATLAS_VERIFY_TOKEN=atp_… tpctl verify --expect-version 1.2.2 --agents-within 120`,
  async run(args, f) {
    const { io } = f;
    const { values } = parseFlags(args, { 'expect-version': { type: 'string' }, 'agents-within': { type: 'string' }, json: { type: 'boolean' } });
    const agentsWithin = values['agents-within'] === undefined ? 60 : Number(values['agents-within']);
    if (!Number.isFinite(agentsWithin) || agentsWithin < 0 || agentsWithin > 3600) throw new CliError('--agents-within takes seconds, from 0 to 3600');
    const result = await runChecklist({
      healthUrl: f.healthUrl,
      expectVersion: values['expect-version'] === undefined ? undefined : targetVersion(values['expect-version'], '--expect-version'),
      auth: f.verifyAuth,
      agentsWithinMs: agentsWithin * 1000,
    });
    io.out(
      values.json
        ? JSON.stringify(result, null, 2)
        : [...result.checks.map((c) => `${c.ok ? 'PASS' : 'FAIL'} ${c.name}: ${c.evidence}`), result.ok ? 'all checks passed' : 'the checklist FAILED'].join(
            '\n',
          ),
    );
    return result.ok ? 'done' : 'failed';
  },
};
