import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { appRoot } from '../../src/shared/app-root.js';
import { RELEASE_LABEL } from '../../src/ops/core/release-metadata.js';
import { buildOnce, imageId } from './image-cache.js';
import { strictStartJs } from './release.js';
import { tempDir } from './temp.js';
import { freePort } from './postgres-server.js';
import { runProcess, tpctl, type RunResult } from './tpctl.js';

/** A real Docker Engine is required: .ci/run installs and starts it. */
export function requireDocker(): void {
  try {
    execFileSync('docker', ['info'], { stdio: 'ignore' });
  } catch {
    throw new Error(
      'no Docker Engine answers: start dockerd (.ci/run does: dockerd --storage-driver=overlay2, or vfs where overlay2 cannot mount, --bridge=none --iptables=false --ip-masq=false)',
    );
  }
}

export const IMAGE = 'atlasai/tenant-plane';

/**
 * Builds a fixture version on top of an image built by scripts/build-image.sh: another version
 * file (by default the tag; a different one makes a mislabelled build), extra migrations, and,
 * with `answerDelayMs`, a server that answers every request that much later (slow by
 * construction: no load on the machine makes it fast, and none makes its baseline as slow). It
 * carries no release metadata, as a release built before releases did (the base's label is
 * blanked); releases with metadata are built by the scripts (buildRelease, then build-image.sh).
 */
export function buildVariant(base: string, tag: string, migrations: Record<string, string>, options: VariantOptions = {}): void {
  const strict = options.refusesSchemaAhead ? strictStartJs() : undefined;
  buildOnce(`${IMAGE}:${tag}`, { variantOf: imageId(`${IMAGE}:${base}`), migrations, options, strict }, () =>
    buildVariantImage(base, tag, migrations, options),
  );
}

interface VariantOptions {
  versionFile?: string;
  answerDelayMs?: number;
  /** Its start-up check demands its own latest migration (see makeRelease). */
  refusesSchemaAhead?: boolean;
}

function buildVariantImage(base: string, tag: string, migrations: Record<string, string>, options: VariantOptions): void {
  const dir = tempDir('atlas-variant-');
  mkdirSync(path.join(dir, 'app', 'migrations'), { recursive: true });
  writeFileSync(path.join(dir, 'app', '.atlas-version'), `${options.versionFile ?? tag}\n`);
  for (const [name, sql] of Object.entries(migrations)) writeFileSync(path.join(dir, 'app', 'migrations', name), sql);
  if (options.refusesSchemaAhead) {
    mkdirSync(path.join(dir, 'app', 'dist', 'server'), { recursive: true });
    writeFileSync(path.join(dir, 'app', 'dist', 'server', 'start.js'), strictStartJs());
  }
  let slow = '';
  if (options.answerDelayMs) {
    // Loaded before the server by NODE_OPTIONS: each request reaches it answerDelayMs late.
    writeFileSync(
      path.join(dir, 'app', 'answer-late.cjs'),
      `const http = require('node:http');
const emit = http.Server.prototype.emit;
http.Server.prototype.emit = function (event, ...args) {
  if (event !== 'request') return emit.call(this, event, ...args);
  setTimeout(() => emit.call(this, event, ...args), ${options.answerDelayMs});
  return true;
};
`,
    );
    slow = 'ENV NODE_OPTIONS="--require /app/answer-late.cjs"\n';
  }
  // Two steps (each creates a container, which the vfs storage driver fills with a copy of the image).
  writeFileSync(path.join(dir, 'Dockerfile'), `FROM ${IMAGE}:${base}\nCOPY app/ /app/\n${slow}LABEL ${RELEASE_LABEL}=""\n`);
  execFileSync('docker', ['build', '-q', '-t', `${IMAGE}:${tag}`, dir], { env: { ...process.env, DOCKER_BUILDKIT: '0' }, stdio: 'ignore' });
}

export interface DeploymentOptions {
  version: string;
  dbUrl: string;
  admin: { email: string; password: string };
}

/**
 * A deployment directory as an operator has one: docker-compose.yml (the repository's, with the
 * Tenant Plane on host networking, its port and database for this test), ./data, and scripts/.
 */
export class Deployment {
  readonly dir = tempDir('atlasdeploy-');
  readonly logDir = path.join(this.dir, 'logs');
  /** The public port: the proxy's, or the Tenant Plane's own where the files have no proxy. */
  port = 0;
  /** Where the proxy finds the service and a candidate (host networking: ports of 127.0.0.1). */
  servicePort = 0;
  candidatePort = 0;

  constructor(
    readonly options: DeploymentOptions,
    /** What the operator's shell sets for Compose (COMPOSE_FILE): the scripts run with it too. */
    readonly composeEnv: Record<string, string> = {},
    /** The Compose the test drives it with: Debian's v1, or `docker compose` (v2, with its DOCKER_CONFIG in `composeEnv`). */
    readonly cli: readonly string[] = ['docker-compose'],
  ) {}

  get composeFile(): string {
    return path.join(this.dir, 'docker-compose.yml');
  }

  get healthUrl(): string {
    return `http://127.0.0.1:${this.port}/api/health`;
  }

  /** The environment the scripts run with: the guide's variables, pointed at this deployment. */
  get env(): Record<string, string> {
    return {
      PATH: process.env.PATH ?? '',
      ATLAS_LOG_DIR: this.logDir,
      HEALTH_URL: this.healthUrl,
      HEALTH_TIMEOUT: '20',
      DB_URL: this.options.dbUrl,
      ATLAS_VERIFY_EMAIL: this.options.admin.email,
      ATLAS_VERIFY_PASSWORD: this.options.admin.password,
      ATLAS_VERIFY_AGENTS_WITHIN: '5',
      // The guide's flows are tested without the bake; the bake's own tests turn it on.
      ATLAS_BAKE_SECONDS: '0',
      ...this.composeEnv,
    };
  }

  /**
   * Writes the deployment's files and starts it. By default the repository's docker-compose.yml;
   * `layout` writes others instead, given the Tenant Plane's service settings for this test (all
   * but its image): the shapes operators write (compose.yaml, anchors, override files).
   */
  async create(layout?: (service: Record<string, unknown>) => Record<string, string>): Promise<void> {
    this.port = await freePort();
    // The layouts operators write have no proxy: the Tenant Plane answers on the public port.
    this.servicePort = layout ? this.port : await freePort();
    this.candidatePort = await freePort();
    const service = {
      network_mode: 'host',
      environment: {
        DB_URL: this.options.dbUrl,
        ATLAS_PORT: String(this.servicePort),
        ATLAS_HOST: '127.0.0.1',
        ATLAS_ADMIN_EMAIL: this.options.admin.email,
        ATLAS_ADMIN_PASSWORD: this.options.admin.password,
        // The tests' webhook receivers listen on loopback.
        ATLAS_WEBHOOK_ALLOW: '127.0.0.1',
      },
    };
    const doc = parseDocument(readFileSync(path.join(appRoot, 'docker-compose.yml'), 'utf8'));
    doc.deleteIn(['services', 'postgres']);
    doc.deleteIn(['services', 'tenant-plane', 'depends_on']);
    doc.setIn(['services', 'tenant-plane', 'image'], `${IMAGE}:${this.options.version}`);
    for (const [key, value] of Object.entries(service)) doc.setIn(['services', 'tenant-plane', key], value);
    doc.deleteIn(['services', 'proxy', 'ports']);
    doc.setIn(['services', 'proxy', 'network_mode'], 'host');
    doc.setIn(['services', 'proxy', 'environment'], {
      ATLAS_PROXY_BIND: `127.0.0.1:${this.port}`,
      ATLAS_PROXY_SERVICE: `127.0.0.1:${this.servicePort}`,
      ATLAS_PROXY_CANDIDATE: `127.0.0.1:${this.candidatePort}`,
    });
    const files = layout ? layout(service) : { 'docker-compose.yml': doc.toString() };
    for (const [name, text] of Object.entries(files)) writeFileSync(path.join(this.dir, name), text);
    // As the Compose file's first lines say: Compose v2 on Debian's Engine 20.10 does not create a bind mount's source.
    mkdirSync(path.join(this.dir, 'data', 'proxy'), { recursive: true });
    symlinkSync(path.join(appRoot, 'scripts'), path.join(this.dir, 'scripts'));
    this.compose('up', '-d');
    await this.waitHealthy(this.options.version);
  }

  /** Compose run in the deployment directory, finding its files itself (COMPOSE_FILE from `composeEnv`). */
  compose(...args: string[]): string {
    return execFileSync(this.cli[0]!, [...this.cli.slice(1), ...args], {
      cwd: this.dir,
      env: { ...process.env, ...this.composeEnv },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  }

  /** Runs a script of the guide from the deployment directory: `bash scripts/<name>`. */
  script(name: string, env: Record<string, string> = {}): Promise<RunResult> {
    return runProcess('bash', [`scripts/${name}`], { ...this.env, ...env }, { cwd: this.dir });
  }

  tpctl(args: string[], env: Record<string, string> = {}): Promise<RunResult> {
    return tpctl(args, { ...this.env, ...env }, { cwd: this.dir });
  }

  async health(): Promise<{ status: number; version?: string; body: string } | undefined> {
    try {
      const res = await fetch(this.healthUrl, { signal: AbortSignal.timeout(2000) });
      const body = await res.text();
      return { status: res.status, version: (JSON.parse(body) as { version?: string }).version, body };
    } catch {
      return undefined;
    }
  }

  async waitHealthy(version: string, seconds = 60): Promise<void> {
    const deadline = Date.now() + seconds * 1000;
    for (;;) {
      const h = await this.health();
      if (h?.status === 200 && h.version === version) return;
      if (Date.now() > deadline)
        throw new Error(`${version} not healthy at ${this.healthUrl}: ${h?.body ?? 'no answer'}\n${this.compose('logs', '--tail', '30')}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** The tag edited by hand in docker-compose.yml, as an operator switches without tpctl. */
  setTag(version: string): void {
    writeFileSync(this.composeFile, readFileSync(this.composeFile, 'utf8').replace(new RegExp(`${IMAGE}:[\\w.-]+`), `${IMAGE}:${version}`));
  }

  /** The guide's check: `docker compose exec tenant-plane cat /app/.atlas-version` (v1 here). */
  versionFile(): string {
    return this.compose('exec', '-T', 'tenant-plane', 'cat', '/app/.atlas-version').trim();
  }

  read(relative: string): string {
    try {
      return readFileSync(path.join(this.dir, relative), 'utf8');
    } catch {
      return '';
    }
  }

  down(): void {
    try {
      this.compose('down', '--timeout', '2');
    } catch {
      /* already gone */
    }
  }
}
