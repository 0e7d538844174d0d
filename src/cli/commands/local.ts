import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Executor } from '../../ops/core/exec.js';
import { addRelease, chooseRelease, liveSupervisor, startLocal, stopLocal } from '../../ops/runtimes/local/control.js';
import { supervise } from '../../ops/runtimes/local/supervisor.js';
import { CliError, parseFlags, type Command, type Io } from '../command.js';
import { printable } from '../../shared/version.js';
import { dataDirOf, healthTimeoutMs, targetVersion, tenantPlaneOf } from './lifecycle.js';

export const releaseAdd: Command = {
  help: `Usage: tpctl release add RELEASE_DIR_OR_TAR_GZ

Copies a staged release (scripts/build-release.sh makes one: ATLAS_VERSION=1.3.0 bash
scripts/build-release.sh) into ATLAS_DATA_DIR/releases/<version>/, beside the others. The
version is the release's own .atlas-version. The first release added becomes current.`,
  async run(args, io) {
    const { positionals } = parseFlags(args, {}, 1);
    const source = positionals[0];
    if (!source) throw new CliError('name a release directory or .tar.gz, e.g. tpctl release add build/releases/1.3.0');
    const added = await addRelease(dataDirOf(io), source, new Executor(undefined, []));
    io.out(`added release ${added.version}: ${added.dir}${added.current ? ' (current: the first release added)' : ''}`);
    return 'done';
  },
};

/** The public address the supervisor listens on: the Tenant Plane's own ATLAS_HOST and ATLAS_PORT. */
function publicAddress(io: Io): { host: string; port: number } {
  const raw = io.env.ATLAS_PORT || '3000';
  const port = Number(raw);
  if (!/^\d{1,5}$/.test(raw) || port < 1 || port > 65535) throw new CliError(`ATLAS_PORT=${printable(raw, 20)} is not valid: expected a port, from 1 to 65535`);
  return { host: io.env.ATLAS_HOST || '0.0.0.0', port };
}

export const localRun: Command = {
  help: `Usage: tpctl local run [--version VERSION]

Keeps the current release (ATLAS_DATA_DIR/releases/current; --version makes VERSION current
first) of the Tenant Plane running, restarts it when it crashes, switches release on SIGHUP,
stops on SIGTERM. It listens on ATLAS_HOST:ATLAS_PORT itself (default 0.0.0.0:3000) and hands
each connection to the Tenant Plane that serves: a switch refuses none. A new version is started
beside the old one and checked on its own port before it takes the traffic. Its output and the Tenant Plane's go to ATLAS_DATA_DIR/local-runtime.log. The
environment (DB_URL, ATLAS_PORT…) is passed on to the Tenant Plane. The unit file
deploy/systemd/atlas-tenant-plane.service runs it under systemd.`,
  async run(args, io) {
    const { values } = parseFlags(args, { version: { type: 'string' } });
    const dataDir = dataDirOf(io);
    if (liveSupervisor(dataDir)) throw new CliError('the local runtime is already running');
    chooseRelease(dataDir, values.version === undefined ? undefined : targetVersion(values.version, '--version'));
    await supervise(dataDir, publicAddress(io));
    return 'done';
  },
};

export const localStart: Command = {
  help: `Usage: tpctl local start [--version VERSION]

Starts the supervisor (tpctl local run) in the background, on the current release or on
VERSION (which becomes current), and waits until HEALTH_URL answers "ok" for it.`,
  async run(args, io) {
    const { values } = parseFlags(args, { version: { type: 'string' } });
    const version = values.version === undefined ? undefined : targetVersion(values.version, '--version');
    const tpctl = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'tpctl.js');
    const tenantPlane = tenantPlaneOf(io);
    const status = await startLocal(dataDirOf(io), {
      version,
      launch: () => spawn(process.execPath, [tpctl, 'local', 'run'], { detached: true, stdio: 'ignore', env: { ...io.env } }).unref(),
      tenantPlane,
      timeoutMs: healthTimeoutMs(io),
    });
    io.out(`the Tenant Plane ${status.version} runs (supervisor pid ${status.supervisorPid}) and is healthy at ${tenantPlane.healthUrl}`);
    return 'done';
  },
};

export const localStop: Command = {
  help: `Usage: tpctl local stop

Stops the Tenant Plane and its supervisor (SIGTERM; the server finishes requests in flight).`,
  async run(args, io) {
    parseFlags(args, {});
    const stopped = await stopLocal(dataDirOf(io));
    io.out(stopped ? `stopped (it ran ${stopped.version})` : 'the local runtime is not running');
    return 'done';
  },
};
