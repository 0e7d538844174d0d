import { chooseRelease, liveSupervisor } from '../../ops/runtimes/local/control.js';
import { supervise } from '../../ops/runtimes/local/supervisor.js';
import { printable } from '../../shared/version.js';
import { parseFlags, targetVersion, type Command } from '../command.js';
import type { Factory } from '../factory.js';
import { CliError } from '../io.js';
import { RUNTIMES } from '../runtimes.js';

/** The public address the supervisor listens on: the Tenant Plane's own ATLAS_HOST and ATLAS_PORT. */
function publicAddress(env: Factory['env']): { host: string; port: number } {
  const defaults = RUNTIMES.local.settings;
  const raw = env.ATLAS_PORT || defaults.ATLAS_PORT!;
  const port = Number(raw);
  if (!/^\d{1,5}$/.test(raw) || port < 1 || port > 65535) throw new CliError(`ATLAS_PORT=${printable(raw, 20)} is not valid: expected a port, from 1 to 65535`);
  return { host: env.ATLAS_HOST || defaults.ATLAS_HOST!, port };
}

export const command: Command = {
  help: `Usage: tpctl local run [--version VERSION]

Keeps the current release (ATLAS_DATA_DIR/releases/current; --version makes VERSION current
first) of the Tenant Plane running, restarts it when it crashes, switches release on SIGHUP,
stops on SIGTERM. It listens on ATLAS_HOST:ATLAS_PORT itself (default 0.0.0.0:3000) and hands
each connection to the Tenant Plane that serves: a switch refuses none. A new version is started
beside the old one and checked on its own port before it takes the traffic. Its output and the Tenant Plane's go to ATLAS_DATA_DIR/local-runtime.log. The
environment (DB_URL, ATLAS_PORT…) is passed on to the Tenant Plane. The unit file
deploy/systemd/atlas-tenant-plane.service runs it under systemd.

Examples:
  tpctl local run
  ATLAS_PORT=8080 tpctl local run --version 1.3.0`,
  async run(args, f) {
    const { values } = parseFlags(args, { version: { type: 'string' } });
    const dataDir = f.dataDir;
    const address = publicAddress(f.env);
    if (liveSupervisor(dataDir)) throw new CliError('the local runtime is already running');
    chooseRelease(dataDir, values.version === undefined ? undefined : targetVersion(values.version, '--version'));
    f.remember('local', 'tpctl local run');
    await supervise(dataDir, address);
    return 'done';
  },
};
