import { parseFlags, type Command } from '../command.js';
import { CliError } from '../io.js';
import { RUNTIME_HELP } from '../runtimes.js';

export const command: Command = {
  help: `Usage: tpctl revisions [--runtime kubernetes|helm] [--json]

Lists the revisions Kubernetes (kubectl rollout history and the ReplicaSets' version
annotations) or Helm (helm history -o json and each revision's image.tag) keeps, oldest first,
with the version each runs: what \`tpctl rollback --to-revision N\` takes.

${RUNTIME_HELP}

Examples:
  tpctl revisions --runtime kubernetes
  tpctl revisions --runtime helm --json`,
  async run(args, f) {
    const { io } = f;
    const { values } = parseFlags(args, { runtime: { type: 'string' }, json: { type: 'boolean' } });
    const kind = f.runtimeKind(values.runtime);
    const exec = f.executor();
    const runtime = await f.runtime(kind, exec);
    if (!runtime.revisions) throw new CliError(`${runtime.describe()} keeps no numbered revisions: tpctl history lists what tpctl did`);
    const revisions = await runtime.revisions().catch((err: Error) => {
      throw new CliError(err.message, 'failed');
    });
    if (values.json) io.out(JSON.stringify(revisions, null, 2));
    else
      io.out(
        [
          `revisions of ${runtime.describe()}:`,
          ...revisions.map((r) => `  ${String(r.revision).padStart(4)}  ${(r.version ?? '?').padEnd(12)} ${r.note}`),
        ].join('\n'),
      );
    return 'done';
  },
};
