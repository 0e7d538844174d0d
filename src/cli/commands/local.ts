import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Executor } from '../../ops/exec.js';
import { judge, probeHealth } from '../../ops/health.js';
import { supervise } from '../../ops/local-supervisor.js';
import { localFiles, readStatus, writeCurrent } from '../../ops/runtimes/local-files.js';
import { processAlive } from '../../shared/file-lock.js';
import { parseVersion } from '../../shared/version.js';
import { CliError, EXIT, parseFlags, type Command, type Io } from '../command.js';
import { opsSettings, targetVersion } from './lifecycle.js';

const dataDirOf = (io: Io) => io.env.ATLAS_DATA_DIR || './data';

function liveSupervisor(dataDir: string) {
  const status = readStatus(dataDir);
  return status && processAlive(status.supervisorPid) ? status : undefined;
}

export const releaseAdd: Command = {
  help: `Usage: tpctl release add RELEASE_DIR_OR_TAR_GZ

Copies a staged release (scripts/build-release.sh makes one: ATLAS_VERSION=1.3.0 bash
scripts/build-release.sh) into ATLAS_DATA_DIR/releases/<version>/, beside the others. The
version is the release's own .atlas-version.`,
  async run(args, io) {
    const { positionals } = parseFlags(args, {}, 1);
    const source = positionals[0];
    if (!source || !existsSync(source)) throw new CliError(`name an existing release directory or .tar.gz${source ? `: ${source} does not exist` : ''}`);
    const files = localFiles(dataDirOf(io));
    mkdirSync(files.releases, { recursive: true });
    const staging = mkdtempSync(path.join(files.releases, '.adding-'));
    try {
      if (source.endsWith('.tar.gz') || source.endsWith('.tgz')) {
        await new Executor(undefined, []).check({ argv: ['tar', '-xzf', path.resolve(source), '-C', staging] });
      } else {
        cpSync(source, staging, { recursive: true, verbatimSymlinks: true });
      }
      let version: string;
      try {
        version = parseVersion(readFileSync(path.join(staging, '.atlas-version'), 'utf8').trim()).text;
      } catch {
        throw new CliError(`${source} is not a release: it has no valid .atlas-version`);
      }
      if (!existsSync(path.join(staging, 'dist', 'cli', 'server.js'))) throw new CliError(`${source} is not a release: dist/cli/server.js is missing`);
      if (existsSync(files.release(version))) throw new CliError(`release ${version} is already in ${files.releases}`);
      renameSync(staging, files.release(version));
      io.out(`added release ${version}: ${files.release(version)}`);
      return EXIT.ok;
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
  },
};

export const localRun: Command = {
  help: `Usage: tpctl local run

Keeps the current release (ATLAS_DATA_DIR/releases/current) of the Tenant Plane running,
restarts it when it crashes, switches release on SIGHUP, stops on SIGTERM. Its output and the
Tenant Plane's go to ATLAS_DATA_DIR/local-runtime.log. The environment (DB_URL, ATLAS_PORT…)
is passed on to the Tenant Plane.`,
  async run(args, io) {
    parseFlags(args, {});
    const dataDir = dataDirOf(io);
    if (liveSupervisor(dataDir)) throw new CliError('the local runtime is already running');
    await supervise(dataDir);
    return EXIT.ok;
  },
};

export const localStart: Command = {
  help: `Usage: tpctl local start [--version VERSION]

Starts the supervisor (tpctl local run) in the background, on the current release or on
VERSION (which becomes current), and waits until HEALTH_URL answers "ok" for it.`,
  async run(args, io) {
    const { values } = parseFlags(args, { version: { type: 'string' } });
    const settings = opsSettings(io);
    if (liveSupervisor(settings.dataDir)) throw new CliError('the local runtime is already running (tpctl local stop first)');
    if (values.version) {
      const version = targetVersion(values.version, '--version');
      if (!existsSync(localFiles(settings.dataDir).release(version))) throw new CliError(`release ${version} is not added: tpctl release add <release>`);
      writeCurrent(settings.dataDir, version);
    }
    const tpctl = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'tpctl.js');
    spawn(process.execPath, [tpctl, 'local', 'run'], { detached: true, stdio: 'ignore', env: { ...io.env } }).unref();
    const deadline = Date.now() + settings.healthTimeoutMs;
    for (;;) {
      const status = readStatus(settings.dataDir);
      const health = await probeHealth(settings.healthUrl);
      if (status && !judge(health, status.version)) {
        io.out(`the Tenant Plane ${status.version} runs (supervisor pid ${status.supervisorPid}) and is healthy at ${settings.healthUrl}`);
        return EXIT.ok;
      }
      if (Date.now() > deadline) throw new CliError(`started, but not healthy within ${settings.healthTimeoutMs / 1000} s: see ${localFiles(settings.dataDir).log}`, EXIT.failed);
      await sleep(200);
    }
  },
};

export const localStop: Command = {
  help: `Usage: tpctl local stop

Stops the Tenant Plane and its supervisor (SIGTERM; the server finishes requests in flight).`,
  async run(args, io) {
    parseFlags(args, {});
    const status = liveSupervisor(dataDirOf(io));
    if (!status) {
      io.out('the local runtime is not running');
      return EXIT.ok;
    }
    process.kill(status.supervisorPid, 'SIGTERM');
    while (processAlive(status.supervisorPid)) await sleep(50);
    io.out(`stopped (it ran ${status.version})`);
    return EXIT.ok;
  },
};
