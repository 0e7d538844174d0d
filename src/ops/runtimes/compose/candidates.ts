import { waitHealthy, probeHealth } from '../../probes/health.js';
import type { Executor } from '../../core/exec.js';
import { ComposeCommands } from './commands.js';
import type { ProxyApi, ProxyServer, ServerAddress } from './proxy.js';
import { crashOf, type Candidate, type Candidates, type RuntimeState } from '../runtime.js';

/** What the candidates need of the Compose service: the runtime gives it. */
export interface ComposeService {
  describe(): string;
  /** Sets the service's tag to `version` in the Compose files. */
  configure(version: string): Promise<void>;
  /** Recreates the service on what is configured. */
  up(): Promise<void>;
  /** The service's container, when it has one. */
  container(): Promise<string | undefined>;
  /** The service container's state. */
  state(): Promise<RuntimeState>;
  stateOf(container: string): Promise<RuntimeState>;
  versionIn(container: string): Promise<string | undefined>;
}

/** How long a server that lost the traffic gets to finish its requests in flight (Compose's stop grace is the same). */
const DRAIN_MS = 15_000;

/**
 * Compose with the proxy: the candidate is a one-off container of the service, on the
 * configuration's new tag, where the proxy's `candidate` server points. Promoting it: the proxy
 * sends it the traffic, the service container finishes its requests and is recreated on the
 * new tag (so that `docker compose exec tenant-plane` shows the version that runs), and once
 * that answers healthy the traffic goes back to the service and the candidate is removed.
 */
export class ComposeCandidates implements Candidates {
  constructor(
    private readonly runtime: ComposeService,
    private readonly exec: Executor,
    private readonly commands: ComposeCommands,
    private readonly proxy: ProxyApi,
    private readonly servers: Record<ProxyServer, ServerAddress>,
  ) {}

  describe(): string {
    return `behind the proxy (${this.proxy.socket})`;
  }

  private async ids(): Promise<string[]> {
    return (await this.exec.check(this.commands.candidateIds())).stdout
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
  }

  /** Where tpctl reaches a server: its IP, or (named, on a bridge network) its container's, which the proxy is told too. */
  private async address(server: ProxyServer, container: string): Promise<string> {
    const { ip, name, port } = this.servers[server];
    if (!name) return ip ?? '127.0.0.1';
    const found = (await this.exec.check(ComposeCommands.addressOf(container))).stdout.trim().split(/\s+/)[0];
    if (!found) throw new Error(`the container ${container} has no network address for the proxy`);
    await this.proxy.setAddress(server, found, port);
    return found;
  }

  private healthUrl = (host: string, server: ProxyServer) => `http://${host.includes(':') ? `[${host}]` : host}:${this.servers[server].port}/api/health`;

  async start(version: string): Promise<Candidate> {
    await this.removeAll();
    await this.runtime.configure(version);
    const { port, name } = this.servers.candidate;
    const service = await this.runtime.container();
    const project = service && (await this.exec.check(ComposeCommands.projectOf(service))).stdout.trim();
    if (!project) throw new Error(`${this.runtime.describe()} has no container to start a candidate beside`);
    await this.exec.check(this.commands.runCandidate(project, port, name));
    const id = (await this.ids())[0];
    if (!id) throw new Error('the candidate container was started but cannot be found by its labels');
    const host = await this.address('candidate', id);
    return {
      healthUrl: this.healthUrl(host, 'candidate'),
      state: () => this.runtime.stateOf(id),
      runningVersion: () => this.runtime.versionIn(id),
      logsTail: async (lines) => {
        const result = await this.exec.run(ComposeCommands.logsOf(id, lines));
        return `${result.stdout}${result.stderr}`.trimEnd();
      },
    };
  }

  async promote(version: string, timeoutMs: number): Promise<void> {
    await this.proxy.route('candidate');
    await this.proxy.drained('service', DRAIN_MS);
    await this.runtime.up();
    const service = await this.runtime.container();
    if (!service) throw new Error(`${this.runtime.describe()} has no container after docker compose up`);
    const url = this.healthUrl(await this.address('service', service), 'service');
    const wait = await waitHealthy({ probe: () => probeHealth(url), version, timeoutMs, crashed: crashOf(this.runtime) });
    if (!wait.healthy) throw new Error(`the service container, recreated on ${version}, is not healthy at ${url}: ${wait.reason}`);
    await this.discard();
  }

  async discard(configured?: string): Promise<boolean> {
    await this.proxy.route('service');
    const ids = await this.ids();
    if (ids.length) await this.proxy.drained('candidate', DRAIN_MS);
    await this.removeAll(ids);
    await this.proxy.retireCandidate();
    if (configured) await this.runtime.configure(configured);
    return ids.length > 0;
  }

  private async removeAll(ids?: string[]): Promise<void> {
    for (const id of ids ?? (await this.ids())) await this.exec.check(ComposeCommands.remove(id));
  }
}
