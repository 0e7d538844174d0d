import type { Executor } from '../../core/exec.js';
import { Refused } from '../../core/errors.js';
import { freePort } from '../../core/free-port.js';
import { releaseError, type Apart, type Candidate, type RuntimeState } from '../runtime.js';
import { ComposeCommands } from './commands.js';
import { serviceRunSettings } from './file.js';

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
 * of loopback; labelled for this deployment, so that a later run finds what a killed one left.
 * Only for a service on the host's network (composeApart says why not otherwise).
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
    const settings = serviceRunSettings(await this.service.config(), this.service.service);
    const port = await freePort();
    const { ATLAS_ADMIN_EMAIL: _email, ATLAS_ADMIN_PASSWORD: _password, ...kept } = settings.environment;
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

/**
 * Where a version can run apart: a service on the host's network reaches the database and this
 * host's loopback (the journey's receiver) as tpctl does. On Compose's own network it would reach
 * neither the same way, so there is no rehearsal there (and the run says so).
 */
export async function composeApart(service: ComposeApartService, exec: Executor, commands: ComposeCommands): Promise<Apart | { cannot: string }> {
  if (!serviceRunSettings(await service.config(), service.service).hostNetwork) {
    return {
      cannot: `service ${service.service} is on Compose's network, not the host's: a version apart would not reach the database and this host the way tpctl does (network_mode: host does)`,
    };
  }
  return new ComposeApart(service, exec, commands);
}
