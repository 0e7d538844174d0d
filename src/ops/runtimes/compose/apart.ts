import type { Executor } from '../../core/exec.js';
import { Refused } from '../../core/errors.js';
import { freePort } from '../../core/free-port.js';
import { releaseError, type Apart, type Candidate, type RuntimeState } from '../runtime.js';
import { ComposeCommands } from './commands.js';
import { serviceEnvironment } from './file.js';

/** What a version apart needs of the Compose service: the runtime gives it. */
export interface ComposeApartService {
  /** The image repository (`atlasai/tenant-plane`). */
  readonly image: string;
  readonly service: string;
  /** The output of `compose config`: the service's merged configuration. */
  config(): Promise<string>;
  stateOf(container: string): Promise<RuntimeState>;
  versionIn(container: string): Promise<string | undefined>;
}

/**
 * Compose's versions apart: the image of the version, run by the docker CLI (not Compose, which
 * would run the service's tag) with the service's environment, on the host's network at a port
 * of loopback, whatever network the service is on: there it reaches the copy at DB_URL as tpctl
 * does (the database of the backup must be reachable from this host anyway), and this host's
 * loopback, where the journey's receiver listens. Labelled for this deployment, so that a later
 * run finds what a killed one left.
 */
export class ComposeApart implements Apart {
  constructor(
    private readonly service: ComposeApartService,
    private readonly exec: Executor,
    private readonly commands: ComposeCommands,
  ) {}

  private image = (version: string) => `${this.service.image}:${version}`;

  async migrate(version: string, dbUrl: string): Promise<string> {
    const result = await this.exec.run(ComposeCommands.migrateUp(this.image(version), dbUrl));
    if (result.code !== 0) throw new Refused(releaseError(result, `${version}'s tpctl migrate up`));
    return result.stdout;
  }

  async start(version: string, dbUrl: string, webhookAllow: string): Promise<Candidate> {
    await this.remove();
    const port = await freePort();
    const { ATLAS_ADMIN_EMAIL: _email, ATLAS_ADMIN_PASSWORD: _password, ...kept } = serviceEnvironment(await this.service.config(), this.service.service);
    const env = { ...kept, DB_URL: dbUrl, ATLAS_HOST: '127.0.0.1', ATLAS_PORT: String(port), ATLAS_WEBHOOK_ALLOW: webhookAllow };
    const started = await this.exec.check(this.commands.runApart(this.image(version), Object.keys(env), env));
    const id = started.stdout.trim().split('\n').at(-1);
    if (!id) throw new Error(`docker run started ${this.image(version)} but named no container`);
    return {
      healthUrl: `http://127.0.0.1:${port}/api/health`,
      state: () => this.service.stateOf(id),
      runningVersion: () => this.service.versionIn(id),
      logsTail: async (lines) => {
        const result = await this.exec.run(ComposeCommands.logsOf(id, lines));
        return (result.stdout + result.stderr).trimEnd();
      },
    };
  }

  async remove(): Promise<boolean> {
    const ids = (await this.exec.check(this.commands.apartIds())).stdout
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
    for (const id of ids) await this.exec.check(ComposeCommands.remove(id));
    return ids.length > 0;
  }
}
