import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startLocal } from '../../ops/runtimes/local/control.js';
import { parseFlags, targetVersion, type Command } from '../command.js';

export const command: Command = {
  help: `Usage: tpctl local start [--version VERSION]

Starts the supervisor (tpctl local run) in the background, on the current release or on
VERSION (which becomes current), and waits until HEALTH_URL answers "ok" for it.

Examples:
  tpctl local start --version 1.2.2
  tpctl local start`,
  async run(args, f) {
    const { io } = f;
    const { values } = parseFlags(args, { version: { type: 'string' } });
    const version = values.version === undefined ? undefined : targetVersion(values.version, '--version');
    const tpctl = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'tpctl.js');
    const tenantPlane = f.tenantPlane;
    f.remember('local', 'tpctl local start');
    const status = await startLocal(f.dataDir, {
      version,
      launch: () => spawn(process.execPath, [tpctl, 'local', 'run'], { detached: true, stdio: 'ignore', env: { ...io.env } }).unref(),
      tenantPlane,
      timeoutMs: f.healthTimeoutMs,
    });
    io.out(`the Tenant Plane ${status.version} runs (supervisor pid ${status.supervisorPid}) and is healthy at ${tenantPlane.healthUrl}`);
    return 'done';
  },
};
