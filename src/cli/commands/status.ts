import { readStatus } from '../../ops/actions/status.js';
import { formatHistoryLine } from '../../ops/engine/state/history.js';
import { inPhase } from '../../ops/engine/state/journal.js';
import { parseFlags, type Command } from '../command.js';

export const command: Command = {
  help: `Usage: tpctl status [--runtime KIND] [--json]

Shows the configured version, what the health endpoint says, the recorded previous version,
the last history lines, and any upgrade or rollback under way or interrupted (a killed run:
\`tpctl rollback\` or \`tpctl upgrade\` recognises it and leads back to a healthy version).

Exit code: 0 healthy and nothing interrupted, 1 otherwise.

Examples:
  tpctl status
  tpctl status --json`,
  async run(args, f) {
    const { io } = f;
    const { values } = parseFlags(args, { runtime: { type: 'string' }, json: { type: 'boolean' } });
    const kind = f.runtimeKind(values.runtime);
    const tenantPlane = f.tenantPlane;
    const runtime = await f.runtime(kind, f.executor()).catch((err: Error) => err);
    const status = await readStatus(f.dataDir, runtime, tenantPlane);
    const op = status.operation;
    const interrupted = op !== null && ('error' in op || op.state === 'interrupted');
    if (values.json) {
      io.out(JSON.stringify(status, null, 2));
    } else {
      const lines = [
        `runtime:    ${typeof status.runtime === 'string' ? status.runtime : status.runtime.error}`,
        `configured: ${status.configuredVersion ?? 'unknown'}`,
        `health:     ${status.healthy ? `ok (${tenantPlane.healthUrl})` : `NOT healthy: ${status.health}`}`,
        `previous:   ${status.previousVersion ?? 'none recorded'}`,
      ];
      if (op && 'error' in op) lines.push(`operation:  ${op.error}`);
      else if (op) {
        lines.push(
          op.state === 'under way'
            ? `operation:  ${op.op} ${op.from} -> ${op.to} under way (pid ${op.pid}), at step ${op.step}`
            : `operation:  INTERRUPTED ${op.op} ${op.from} -> ${op.to} at step ${op.step}${inPhase(op.phase)} (pid ${op.pid} is gone); run \`tpctl rollback\` to lead back to ${op.leadsBackTo}`,
        );
      }
      lines.push('history:', ...(status.history.length ? status.history.map((h) => `  ${formatHistoryLine(h)}`) : ['  (none)']));
      io.out(lines.join('\n'));
    }
    return status.healthy && !interrupted ? 'done' : 'failed';
  },
};
