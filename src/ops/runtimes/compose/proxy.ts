import { createConnection } from 'node:net';
import type { RunLog } from '../../core/exec.js';
import { Refused } from '../../core/errors.js';

/**
 * The Tenant Plane's proxy (HAProxy, deploy/proxy/haproxy.cfg), driven through HAProxy's own
 * runtime API on its admin socket: one command line per connection, answered in text. Its
 * backend has two servers: `service`, where the Compose service answers, and `candidate`, where
 * a new version answers while it is checked.
 */
export const BACKEND = 'tenant-plane';
export type ProxyServer = 'service' | 'candidate';
const SERVERS: readonly ProxyServer[] = ['service', 'candidate'];

export interface ServerAddress {
  /** The address HAProxy resolved (an IP), or undefined when it has none yet. */
  ip: string | undefined;
  port: number;
  /** The name it was configured with, when it is not an IP (a container's, on a bridge network). */
  name: string | undefined;
}

export interface ServerLoad {
  /** Requests under way and queued: a drained server has none. */
  active: number;
  /** HAProxy's word: UP, DRAIN, MAINT, DOWN, `no check`. */
  status: string;
}

export class ProxyError extends Error {}

/** Rows of a table HAProxy prints with a `# name name …` header (space- or comma-separated). */
function table(text: string, separator: string): Record<string, string>[] {
  const lines = text.split('\n');
  const header = lines.findIndex((l) => l.startsWith('# '));
  if (header < 0) throw new ProxyError(`HAProxy answered without a table: ${text.trim().slice(0, 200) || 'nothing'}`);
  const names = lines[header]!.slice(2).split(separator);
  return lines
    .slice(header + 1)
    .filter((l) => l.trim())
    .map((l) => Object.fromEntries(l.split(separator).map((v, i) => [names[i] ?? String(i), v])));
}

/** The backend's servers in `show servers state tenant-plane`; both must be there. */
export function parseServersState(text: string): Record<ProxyServer, ServerAddress> {
  const rows = table(text, ' ').filter((r) => r.be_name === BACKEND);
  const find = (name: ProxyServer): ServerAddress => {
    const row = rows.find((r) => r.srv_name === name);
    const port = Number(row?.srv_port);
    if (!row || !Number.isInteger(port) || port < 1 || port > 65535)
      throw new ProxyError(`the proxy's backend ${BACKEND} has no server "${name}" with a port: is this the Tenant Plane's proxy?`);
    const ip = row.srv_addr && /^[\d.:a-fA-F]+$/.test(row.srv_addr) && row.srv_addr !== '0.0.0.0' ? row.srv_addr : undefined;
    return { ip, port, name: row.srv_fqdn && row.srv_fqdn !== '-' ? row.srv_fqdn : undefined };
  };
  return { service: find('service'), candidate: find('candidate') };
}

/** The backend's servers in `show stat` (CSV). */
export function parseStat(text: string): Record<ProxyServer, ServerLoad> {
  const rows = table(text, ',').filter((r) => r.pxname === BACKEND);
  const find = (name: ProxyServer): ServerLoad => {
    const row = rows.find((r) => r.svname === name);
    const active = Number(row?.scur) + Number(row?.qcur || 0);
    if (!row || !Number.isFinite(active)) throw new ProxyError(`the proxy's statistics have no server ${BACKEND}/${name}`);
    return { active, status: row.status ?? '' };
  };
  return { service: find('service'), candidate: find('candidate') };
}

export class ProxyApi {
  constructor(
    readonly socket: string,
    private readonly log: RunLog | undefined,
  ) {}

  describe(): string {
    return `the proxy's admin socket ${this.socket}`;
  }

  /** One command; HAProxy closes the connection once it has answered. */
  send(command: string, timeoutMs = 5_000): Promise<string> {
    this.log?.write(`$ proxy: ${command}`);
    return new Promise((resolve, reject) => {
      let answer = '';
      const connection = createConnection(this.socket);
      connection.setEncoding('utf8');
      connection.setTimeout(timeoutMs, () => connection.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      connection.on('data', (chunk: string) => (answer += chunk));
      connection.on('end', () => resolve(answer));
      connection.on('error', (err: NodeJS.ErrnoException) =>
        reject(new ProxyError(`${this.describe()} does not answer (${err.code ?? err.message}): start the proxy (docker compose up -d proxy)`)),
      );
      connection.end(`${command}\n`);
    });
  }

  /** Commands that answer nothing when they work (`set server …`): any answer is HAProxy's refusal. */
  private async set(...commands: string[]): Promise<void> {
    const answer = (await this.send(commands.join('; '))).trim();
    if (answer) throw new ProxyError(`the proxy refused "${commands.join('; ')}": ${answer.slice(0, 300)}`);
  }

  async servers(): Promise<Record<ProxyServer, ServerAddress>> {
    return parseServersState(await this.send(`show servers state ${BACKEND}`));
  }

  async load(): Promise<Record<ProxyServer, ServerLoad>> {
    return parseStat(await this.send('show stat'));
  }

  /** New requests go to `to` only; the other server finishes those it has (drain). */
  route(to: ProxyServer): Promise<void> {
    const other = SERVERS.find((s) => s !== to)!;
    return this.set(`set server ${BACKEND}/${to} state ready`, `set server ${BACKEND}/${other} state drain`);
  }

  /** Where a server is, when it was named (a bridge network): the container's address now. */
  setAddress(server: ProxyServer, ip: string, port: number): Promise<void> {
    return this.set(`set server ${BACKEND}/${server} addr ${ip} port ${port}`);
  }

  /** No traffic at all to the candidate (the state the configuration starts in). */
  retireCandidate(): Promise<void> {
    return this.set(`set server ${BACKEND}/candidate state maint`);
  }

  /** Waits until `server` has no request under way or queued (within `timeoutMs`). */
  async drained(server: ProxyServer, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { active } = (await this.load())[server];
      if (active === 0) return;
      if (Date.now() > deadline) throw new ProxyError(`${BACKEND}/${server} still had ${active} requests under way after ${Math.round(timeoutMs / 1000)} s`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** A proxy that cannot be worked with refuses the switch before anything changes. */
export const proxyRefusal = (err: unknown): never => {
  if (err instanceof ProxyError) throw new Refused(err.message);
  throw err;
};
