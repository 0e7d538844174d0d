import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { appRoot } from '../../src/shared/app-root.js';
import { tempDir } from './temp.js';
import type { RunResult } from './tpctl.js';

export interface AgentOptions {
  server: string;
  name: string;
  runbooks?: Record<string, { command: string[]; timeoutSeconds?: number }>;
  checkinIntervalSeconds?: number;
  backoffCapSeconds?: number;
  stateDir?: string;
}

/** A real atlas-edge-agent: its own configuration file and state directory, run as a process. */
export class AgentProcess {
  readonly dir = tempDir('atlas-agent-');
  readonly configFile = path.join(this.dir, 'agent.json');
  child: ChildProcess | undefined;
  output = '';
  exited: Promise<number | null> = Promise.resolve(null);

  constructor(readonly options: AgentOptions) {
    writeFileSync(
      this.configFile,
      JSON.stringify({
        server: options.server,
        name: options.name,
        stateDir: options.stateDir ?? './state',
        checkinIntervalSeconds: options.checkinIntervalSeconds ?? 0.5,
        backoffCapSeconds: options.backoffCapSeconds ?? 2,
        runbooks: options.runbooks ?? {},
      }),
    );
  }

  get stateDir(): string {
    return path.resolve(this.dir, this.options.stateDir ?? './state');
  }

  private binary(): string {
    return path.join(appRoot, 'dist', 'cli', 'agent.js');
  }

  enroll(token: string): Promise<RunResult> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [this.binary(), 'enroll', '--config', this.configFile], {
        env: { PATH: process.env.PATH ?? '', ATLAS_ENROLLMENT_TOKEN: token },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
  }

  start(): void {
    const child = spawn(process.execPath, [this.binary(), 'run', '--config', this.configFile], { env: { PATH: process.env.PATH ?? '' } });
    this.child = child;
    child.stdout.on('data', (d: Buffer) => (this.output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (this.output += d.toString()));
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  async stop(): Promise<void> {
    if (this.child && this.child.exitCode === null) {
      this.child.kill('SIGTERM');
      await this.exited;
    }
  }
}
