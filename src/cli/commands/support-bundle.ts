import { supportBundle } from '../../ops/actions/support-bundle.js';
import { parseFlags, type Command } from '../command.js';
import { CliError } from '../io.js';
import type { Factory } from '../factory.js';
import { RUNTIME_HELP } from '../runtimes.js';

/** Every secret tpctl may know of, to keep out of the bundle. */
function bundleSecrets(f: Factory): string[] {
  const named = ['ATLAS_VERIFY_PASSWORD', 'ATLAS_VERIFY_TOKEN', 'ATLAS_ADMIN_PASSWORD', 'ATLAS_METRICS_TOKEN'].map((v) => f.io.env[v] ?? '');
  return [...f.secrets, ...named.filter((s) => s.length >= 4)];
}

export const command: Command = {
  help: `Usage: tpctl support-bundle [--out DIR] [--runs N] [--runtime KIND] [--json]

Collects what the operator guide's "Getting help" asks for into one
atlas-support-<UTC stamp>.tar.gz in DIR (default: the current directory), and says what it
holds: the versions (configured, running, previous, and the last upgrade or rollback), the run
logs of the newest N runs (default 5) with their records, the answer of GET /api/health, the
Tenant Plane's logs from its platform (docker compose logs, kubectl logs, the local runtime's
log), tpctl status and the history. It works when the Tenant Plane is down: what cannot be
collected is named, with why.

Secrets are replaced by ***: DB_URL's password, ATLAS_VERIFY_PASSWORD, ATLAS_VERIFY_TOKEN,
ATLAS_ADMIN_PASSWORD, ATLAS_METRICS_TOKEN, a password in any URL, and the credentials the
Tenant Plane issues (API tokens, agent credentials, enrollment tokens, webhook secrets). The
archive is readable by its owner only (0600); look inside before sending it.

${RUNTIME_HELP}

Exit code: 0 written (even with parts missing), 2 bad input.

Examples:
  tpctl support-bundle
  tpctl support-bundle --out /tmp --runs 3`,
  async run(args, f) {
    const { io } = f;
    const { values } = parseFlags(args, { out: { type: 'string' }, runs: { type: 'string' }, runtime: { type: 'string' }, json: { type: 'boolean' } });
    const runs = values.runs === undefined ? 5 : Number(values.runs);
    if (!/^\d{1,3}$/.test(values.runs ?? '5') || runs < 1) throw new CliError(`--runs=${values.runs} is not valid: a count of run logs from 1 to 999`);
    const secrets = bundleSecrets(f);
    const exec = f.executor(undefined, secrets);
    const runtime = await f.runtime(f.runtimeKind(values.runtime), exec).catch((err: Error) => err);
    const bundle = await supportBundle({
      dataDir: f.dataDir,
      logDir: f.logDir,
      runtime,
      tenantPlane: f.tenantPlane,
      exec,
      secrets,
      outDir: values.out ?? '.',
      runs,
      now: new Date(),
    });
    if (values.json) {
      io.out(JSON.stringify(bundle, null, 2));
      return 'done';
    }
    const width = Math.max(...[...bundle.parts, ...bundle.missing].map((p) => p.name.length));
    const lines = [
      `wrote ${bundle.file} (${(bundle.bytes / 1024).toFixed(1)} KB, readable by its owner only):`,
      ...bundle.parts.map((p) => `  ${p.name.padEnd(width)}  ${p.what}`),
    ];
    if (bundle.missing.length) lines.push('not collected:', ...bundle.missing.map((p) => `  ${p.name.padEnd(width)}  ${p.what}`));
    io.out(lines.join('\n'));
    return 'done';
  },
};
