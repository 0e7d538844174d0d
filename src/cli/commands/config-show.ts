import { describeSettings, deploymentFile } from '../deployment.js';
import { parseFlags, type Command } from '../command.js';

export const command: Command = {
  help: `Usage: tpctl config show [--json]

Shows the deployment's settings: each one's value, and where it comes from (deployment.json
in ATLAS_DATA_DIR, the environment, or the default). The first command that sets a deployment
up (tpctl local start, local run, release add, a first upgrade or rollback) records its runtime
and settings in ATLAS_DATA_DIR/deployment.json; every later command reads them from there, and
refuses a variable that says otherwise.

Examples:
  tpctl config show
  ATLAS_DATA_DIR=/var/lib/atlas tpctl config show --json`,
  async run(args, f) {
    const { io } = f;
    const { values } = parseFlags(args, { json: { type: 'boolean' } });
    const record = f.deployment;
    const settings = describeSettings(f.env, f.dataDir, record, f.runtimeKind());
    const file = deploymentFile(f.dataDir);
    if (values.json) {
      io.out(JSON.stringify({ deployment: record ? { file, recorded: record.recorded } : undefined, settings }, null, 2));
      return 'done';
    }
    io.out(
      record
        ? `deployment: ${file} (recorded by ${record.recorded.by} at ${record.recorded.at})`
        : `deployment: none recorded yet in ${file} (the first tpctl local start, release add, upgrade or rollback records one)`,
    );
    const width = Math.max(...settings.map((s) => s.name.length));
    for (const s of settings) io.out(`  ${s.name.padEnd(width)}  ${s.value}  (${s.from})`);
    return 'done';
  },
};
