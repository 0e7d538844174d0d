import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { isObject, parseJson } from '../../../shared/json.js';
import { isVersion, parseVersion } from '../../../shared/version.js';
import { tail, type Executor } from '../../core/exec.js';
import { writeFileAtomic } from '../../../shared/files.js';
import { ComposeFileError, effectiveImage, findServiceImage, withTag, type ServiceImage, type TagPlace } from './file.js';
import { composeFiles, type ComposeCli } from './files.js';
import { Refused } from '../../core/errors.js';
import { parseReleaseMetadata, RELEASE_LABEL, type ReleaseMetadata } from '../../core/release-metadata.js';
import { migrateStatusOutput, type Apart, type Runtime, type RuntimeState } from '../runtime.js';
import { ComposeApart } from './apart.js';
import { ComposeCandidates } from './candidates.js';
import { COMPOSE_ENV, ComposeCommands, parseContainerState } from './commands.js';
import { ProxyApi, proxyRefusal } from './proxy.js';

export async function detectComposeCli(exec: Executor): Promise<ComposeCli> {
  const v2 = await exec.run({ argv: ['docker', 'compose', 'version'] }).catch(() => undefined);
  if (v2?.code === 0) return ['docker', 'compose'];
  // v1 is a Python program: finding it on PATH is enough, running it costs a start-up.
  const v1 = (process.env.PATH ?? '').split(path.delimiter).some((dir) => dir && existsSync(path.join(dir, 'docker-compose')));
  if (v1) return ['docker-compose'];
  throw new Refused('neither `docker compose` nor `docker-compose` is installed here: install Docker Compose');
}

export interface ComposeOptions {
  /** Where Compose would be run: the deployment directory. */
  cwd: string;
  /** The environment the files are found with (COMPOSE_FILE, COMPOSE_PATH_SEPARATOR). */
  env: Readonly<Record<string, string | undefined>>;
  service: string;
  /** The image repository expected in the Compose file (`atlasai/tenant-plane`). */
  image: string;
  /** The deployment's data directory (`./data`): the proxy's admin socket is `proxy/admin.sock` in it. */
  dataDir: string;
}

export class ComposeRuntime implements Runtime {
  readonly name = 'compose';
  /** What Compose's configuration says, read once per run and again after each switch. */
  private read: Promise<ServiceImage> | undefined;

  private constructor(
    private readonly exec: Executor,
    private readonly commands: ComposeCommands,
    private readonly options: ComposeOptions,
  ) {}

  static async create(exec: Executor, options: ComposeOptions): Promise<ComposeRuntime> {
    const cli = await detectComposeCli(exec);
    try {
      return new ComposeRuntime(exec, new ComposeCommands(cli, composeFiles(options.cwd, options.env, cli), options.service), options);
    } catch (err) {
      if (err instanceof ComposeFileError) throw new Refused(err.message, [{ do: 'set', setting: 'compose-file' }]);
      throw err;
    }
  }

  describe(): string {
    return `${this.commands.files.map((f) => path.relative(this.options.cwd, f) || f).join(' + ')} service ${this.options.service}`;
  }

  private image(): Promise<ServiceImage> {
    this.read ??= this.readImage().catch((err: unknown) => {
      this.read = undefined;
      throw err instanceof ComposeFileError ? new Refused(err.message) : err;
    });
    return this.read;
  }

  /** Compose's merged configuration (`compose config`), refused when Compose cannot read it. */
  private async config(): Promise<string> {
    const config = await this.exec.run(this.commands.config());
    if (config.code !== 0) throw new Refused(`${this.describe()}: Compose cannot read its configuration:\n${tail(config.stderr, 10)}`);
    return config.stdout;
  }

  private async readImage(): Promise<ServiceImage> {
    const config = await this.config();
    const text = (file: string) => ({ path: file, text: readFileSync(file, 'utf8') });
    const envFile = path.join(this.commands.projectDir, '.env');
    const image = findServiceImage(
      { files: this.commands.files.map(text), envFile: existsSync(envFile) ? text(envFile) : undefined, shell: { ...process.env, ...COMPOSE_ENV } },
      this.options.service,
      effectiveImage(config, this.options.service),
    );
    if (image.repository !== this.options.image) {
      throw new Refused(`${this.describe()} runs image ${image.repository}, not ${this.options.image}`, [{ do: 'set', setting: 'image' }]);
    }
    return image;
  }

  /** The image, with where the switch changes its tag; refused (before anything changes) where it cannot safely. */
  private async switchable(): Promise<ServiceImage & { place: TagPlace }> {
    const image = await this.image();
    if ('refused' in image.place) throw new Refused(image.place.refused);
    if (image.digest) {
      throw new Refused(
        `${this.options.service} is pinned by digest (${image.repository}:${image.tag}@${image.digest}): Docker runs that digest whatever the tag says, so changing the tag would change nothing. Remove "@${image.digest}" (${image.place.what}) and run again`,
      );
    }
    return { ...image, place: image.place };
  }

  async check(): Promise<void> {
    // Compose's reading of the configuration is its validation as well.
    await this.switchable();
  }

  async configuredVersion(): Promise<string> {
    const { tag } = await this.image();
    try {
      return parseVersion(tag).text;
    } catch {
      throw new Refused(
        `service ${this.options.service} runs tag "${tag}", not a release version; set it to the version that runs (e.g. 1.2.2) before upgrading`,
      );
    }
  }

  async ensureAvailable(version: string): Promise<void> {
    const image = `${this.options.image}:${version}`;
    if ((await this.exec.run(ComposeCommands.imagePresent(image))).code === 0) return;
    const pulled = await this.exec.run(ComposeCommands.pull(image));
    if (pulled.code !== 0) {
      throw new Refused(`the image ${image} is not on this host and cannot be pulled (${pulled.stderr.trim().split('\n').at(-1) ?? ''})`, [
        { do: 'build-image', version },
      ]);
    }
  }

  async availableVersions(): Promise<string[]> {
    const out = await this.exec.check(ComposeCommands.imageTags(this.options.image));
    return out.stdout
      .split('\n')
      .map((t) => t.trim())
      .filter(isVersion);
  }

  async releaseMetadata(version: string): Promise<ReleaseMetadata | undefined> {
    const image = `${this.options.image}:${version}`;
    const inspected = await this.exec.run(ComposeCommands.imageLabels(image));
    if (inspected.code !== 0) throw new Refused(`the image ${image} is not on this host`, [{ do: 'build-image', version }]);
    const labels = parseJson(inspected.stdout);
    if (!labels) throw new Refused(`docker image inspect ${image} did not answer JSON labels`);
    const label = isObject(labels.value) ? labels.value[RELEASE_LABEL] : undefined;
    if (typeof label !== 'string' || !label) return undefined;
    return parseReleaseMetadata(label, `the label ${RELEASE_LABEL} of ${image}`);
  }

  async targetSchemaStatus(version: string, dbUrl: string): Promise<string> {
    return migrateStatusOutput(await this.exec.run(ComposeCommands.migrateStatus(`${this.options.image}:${version}`, dbUrl)), version);
  }

  /** Sets the tag where the Compose files take it from (nothing else changes). */
  async configure(version: string): Promise<void> {
    const { place, tag } = await this.switchable();
    if (tag === version) return;
    const text = readFileSync(place.file, 'utf8');
    if (text.slice(...place.range) !== tag) throw new Refused(`${place.file} changed while tpctl was reading it; run again`);
    writeFileAtomic(place.file, withTag(text, place, version));
    this.read = undefined;
  }

  /** Recreates the service on what is configured (Compose leaves a container that matches it alone). */
  async up(): Promise<void> {
    await this.exec.check(this.commands.up());
  }

  async switchTo(version: string): Promise<void> {
    await this.configure(version);
    await this.up();
    // With the proxy, the service takes the traffic again (a candidate may have had it).
    await (await this.candidates())?.discard();
  }

  /** A rehearsal's versions apart: the image of the version with the service's settings, on the host's network. */
  async apart(): Promise<Apart> {
    return new ComposeApart(
      {
        image: this.options.image,
        service: this.options.service,
        config: () => this.config(),
        stateOf: (c) => this.stateOf(c),
        versionIn: (c) => this.versionIn(c),
      },
      this.exec,
      this.commands,
    );
  }

  async candidates(): Promise<ComposeCandidates | undefined> {
    const socket = path.join(this.options.dataDir, 'proxy', 'admin.sock');
    if (!existsSync(socket)) return undefined;
    const proxy = new ProxyApi(socket, this.exec.log);
    const servers = await proxy.servers().catch(proxyRefusal);
    return new ComposeCandidates(this, this.exec, this.commands, proxy, servers);
  }

  async container(): Promise<string | undefined> {
    return (await this.exec.check(this.commands.containerId())).stdout.trim().split('\n').find(Boolean);
  }

  async state(): Promise<RuntimeState> {
    const id = await this.container();
    return id ? this.stateOf(id) : { running: false, crashed: true, exitCode: undefined, detail: 'no container' };
  }

  async runningVersion(): Promise<string | undefined> {
    const id = await this.container();
    return id ? this.versionIn(id) : undefined;
  }

  /** A container's state, the service's or a candidate's. */
  async stateOf(container: string): Promise<RuntimeState> {
    return parseContainerState((await this.exec.check(ComposeCommands.inspectState(container))).stdout);
  }

  /** The version file inside a container (`docker compose exec … cat /app/.atlas-version`). */
  async versionIn(container: string): Promise<string | undefined> {
    const result = await this.exec.run(ComposeCommands.execIn(container, 'cat', '/app/.atlas-version'));
    return result.code === 0 ? result.stdout.trim() : undefined;
  }

  async logsTail(lines: number): Promise<string> {
    const result = await this.exec.run(this.commands.logs(lines));
    return (result.stdout || result.stderr).trimEnd();
  }

  async stop(): Promise<void> {
    await this.exec.check(this.commands.stop());
  }

  async start(): Promise<void> {
    await this.exec.check(this.commands.start());
  }
}
