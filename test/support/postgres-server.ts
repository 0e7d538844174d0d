import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';

/**
 * A real PostgreSQL server for tests, from Debian's binaries (/usr/lib/postgresql/<major>/bin),
 * in a temporary directory, on 127.0.0.1. As root it runs as the `postgres` user.
 *
 * In a network namespace (the test cluster's), it listens there on 127.0.0.1 and on the given
 * address, for the pods; the test itself, outside, reaches it through its Unix socket.
 *
 * Its roles are those of the Compose file we ship: the superuser `postgres` makes the databases
 * (and is what tests inspect them with); the Tenant Plane and tpctl connect as `atlasusr`, which
 * owns them and may create more (a restore test's scratch database) but is not a superuser.
 */
export const PG_SUPERUSER = 'postgres';
const PG_USER = 'atlasusr';
/** Distinctive, so that tests can search logs and process lists for it. */
export const PG_PASSWORD = 'pw-Zq8x-secret';

function binDir(): string {
  const root = '/usr/lib/postgresql';
  const majors = existsSync(root) ? readdirSync(root).filter((d) => existsSync(path.join(root, d, 'bin', 'postgres'))) : [];
  const newest = majors.sort((a, b) => Number(b) - Number(a))[0];
  if (!newest) throw new Error('no PostgreSQL server under /usr/lib/postgresql: apt-get install -y postgresql (see .ci/run)');
  return path.join(root, newest, 'bin');
}

function owner(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const out = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  return { uid: Number(out.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** A network namespace to run in (its path, as nsenter takes it) and the address to listen on there. */
export interface InNamespace {
  netns: string;
  address: string;
}

export class PostgresServer {
  private process: ChildProcess | undefined;

  private constructor(
    readonly dir: string,
    readonly port: number,
    readonly binDir: string,
    private readonly user: { uid: number; gid: number } | undefined,
    private readonly durable = false,
    private readonly inNamespace?: InNamespace,
  ) {}

  /** The server the whole run shares (started by global-setup), to make databases on. */
  static shared(port: number): PostgresServer {
    return new PostgresServer('', port, '', undefined);
  }

  /**
   * `durable`: PostgreSQL's own defaults (fsync and all), for benchmarks; otherwise durability
   * is traded for speed, as tests do not survive a power cut anyway.
   */
  static async start(options: { durable?: boolean; inNamespace?: InNamespace } = {}): Promise<PostgresServer> {
    const bin = binDir();
    const user = owner();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'atlas-pg-'));
    chmodSync(dir, 0o700);
    writeFileSync(path.join(dir, 'pwfile'), PG_PASSWORD);
    if (user) {
      chownSync(dir, user.uid, user.gid);
      chownSync(path.join(dir, 'pwfile'), user.uid, user.gid);
    }
    const init = spawnSync(
      path.join(bin, 'initdb'),
      [
        '-D',
        path.join(dir, 'data'),
        '-U',
        PG_SUPERUSER,
        '--pwfile',
        path.join(dir, 'pwfile'),
        '--auth-host=scram-sha-256',
        '--auth-local=trust',
        '-E',
        'UTF8',
        '--no-sync',
      ],
      { encoding: 'utf8', ...user },
    );
    if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}`);
    // In a namespace, the pods connect from their own addresses, with the password.
    if (options.inNamespace) appendFileSync(path.join(dir, 'data', 'pg_hba.conf'), 'host all all 0.0.0.0/0 scram-sha-256\n');
    const server = new PostgresServer(dir, await freePort(), bin, user, options.durable ?? false, options.inNamespace);
    await server.resume();
    await server.sql(`CREATE ROLE ${PG_USER} LOGIN NOSUPERUSER CREATEDB PASSWORD '${PG_PASSWORD}'`);
    return server;
  }

  /** Starts (again) the server on the same directory and port. */
  async resume(): Promise<void> {
    const fast = this.durable ? [] : ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'];
    const args = [
      '-D',
      path.join(this.dir, 'data'),
      '-p',
      String(this.port),
      '-k',
      this.dir,
      '-c',
      `listen_addresses=${['127.0.0.1', this.inNamespace?.address].filter(Boolean).join(',')}`,
      ...fast,
      '-c',
      'max_connections=200',
    ];
    const postgres = path.join(this.binDir, 'postgres');
    const ns = this.inNamespace;
    // nsenter enters as root (setns needs it), then becomes the server's user.
    const child = ns
      ? spawn('nsenter', [`--net=${ns.netns}`, ...(this.user ? ['-S', String(this.user.uid), '-G', String(this.user.gid)] : []), postgres, ...args], {
          stdio: ['ignore', 'ignore', 'pipe'],
        })
      : spawn(postgres, args, { stdio: ['ignore', 'ignore', 'pipe'], ...this.user });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    this.process = child;
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`postgres exited: ${stderr}`);
      try {
        const client = new pg.Client(this.superuser('postgres'));
        await client.connect();
        await client.end();
        return;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  /** The URL as the Tenant Plane takes it: on 127.0.0.1, or in a namespace its address there. */
  url(database: string, user = PG_USER): string {
    return `postgresql://${user}:${PG_PASSWORD}@${this.inNamespace?.address ?? '127.0.0.1'}:${this.port}/${database}`;
  }

  /** How the test connects as the superuser: from outside a namespace, through the Unix socket. */
  private superuser(database: string): pg.ClientConfig {
    return this.inNamespace ? { host: this.dir, port: this.port, user: PG_SUPERUSER, database } : { connectionString: this.url(database, PG_SUPERUSER) };
  }

  /** A new, empty database owned by the Tenant Plane's role; returns its URL (as that role). */
  async createDatabase(prefix = 'test'): Promise<string> {
    const name = `${prefix}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
    await this.sql(`CREATE DATABASE ${name} OWNER ${PG_USER}`);
    return this.url(name);
  }

  /** Runs a statement as the superuser. */
  async sql(statement: string, database = 'postgres'): Promise<pg.QueryResult> {
    const client = new pg.Client(this.superuser(database));
    await client.connect();
    try {
      return await client.query(statement);
    } finally {
      await client.end();
    }
  }

  /** Stops the server at once (fast shutdown: open connections are cut). */
  async halt(): Promise<void> {
    const child = this.process;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGINT');
    await exited;
  }

  async destroy(): Promise<void> {
    await this.halt();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
