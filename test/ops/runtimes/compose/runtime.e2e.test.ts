import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ComposeCommands, parseContainerState } from '../../../../src/ops/runtimes/compose/commands.js';
import {
  ComposeFileError,
  effectiveImage,
  findServiceImage,
  parseEnvFile,
  splitImage,
  withTag,
  type ServiceImage,
  type TagPlace,
} from '../../../../src/ops/runtimes/compose/file.js';
import { composeFiles } from '../../../../src/ops/runtimes/compose/files.js';
import { appRoot } from '../../../../src/shared/app-root.js';
import { tempDir } from '../../../support/temp.js';

/**
 * The Compose driver without a Docker Engine: where it finds the tag in the files (checked
 * against what Debian's real `docker-compose config` makes of the same files), its file edits,
 * its commands as data, and its reading of `docker inspect`.
 */

const repositoryFile = readFileSync(path.join(appRoot, 'docker-compose.yml'), 'utf8');

/** What Debian's real `docker-compose config` makes of the service's image, with these files and environment. */
function composeSays(dir: string, names: string[], shell: Record<string, string> = {}): string {
  const config = execFileSync('docker-compose', [...names.flatMap((f) => ['-f', f]), 'config'], {
    cwd: dir,
    env: { PATH: process.env.PATH, ...shell },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return effectiveImage(config, 'tenant-plane');
}

/** A deployment directory with these files; each is read back by the real `docker-compose config`. */
function project(files: Record<string, string>, shell: Record<string, string> = {}) {
  const dir = tempDir('atlas-compose-file-');
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  const names = composeFiles(dir, shell, ['docker-compose']);
  const read = (file: string) => ({ path: file, text: readFileSync(file, 'utf8') });
  const envFile = files['.env'] === undefined ? undefined : read(path.join(dir, '.env'));
  const image = findServiceImage({ files: names.map(read), envFile, shell }, 'tenant-plane', composeSays(dir, names, shell));
  return { dir, image, names };
}

/** The file's text after setting the tag where the image says, and what Compose then reads. */
function switched(image: ServiceImage, version: string): { file: string; text: string } {
  const place = image.place as TagPlace;
  const text = withTag(readFileSync(place.file, 'utf8'), place, version);
  writeFileSync(place.file, text);
  return { file: place.file, text };
}

const refusal = (image: ServiceImage) => ('refused' in image.place ? image.place.refused : `no refusal: ${image.place.what}`);

describe('where the tag is written', () => {
  it("in the repository's own docker-compose.yml: only the tag's characters change", () => {
    const { dir, image, names } = project({ 'docker-compose.yml': repositoryFile });
    expect(image).toMatchObject({ repository: 'atlasai/tenant-plane', tag: '1.3.0', digest: undefined, place: { what: `the tag in ${names[0]}` } });
    expect(switched(image, '1.3.1').text).toBe(repositoryFile.replace('image: atlasai/tenant-plane:1.3.0', 'image: atlasai/tenant-plane:1.3.1'));
    expect(composeSays(dir, names)).toBe('atlasai/tenant-plane:1.3.1');
  });

  it('keeps quoting, comments and a registry with a port', () => {
    const text = `services:\n  tenant-plane:\n    # pinned by tpctl\n    image: "registry.example:5000/atlasai/tenant-plane:1.2.2" # the app\n`;
    const { image } = project({ 'compose.yaml': text });
    expect(image).toMatchObject({ repository: 'registry.example:5000/atlasai/tenant-plane', tag: '1.2.2' });
    expect(switched(image, '1.3.0').text).toBe(text.replace(':1.2.2"', ':1.3.0"'));
  });

  it('in an anchor the service merges (`<<: *tp`): the anchor is edited', () => {
    const text =
      'x-tenant-plane: &tp\n  image: atlasai/tenant-plane:1.2.2 # ours\n  restart: unless-stopped\nservices:\n  tenant-plane:\n    <<: *tp\n    network_mode: host\n';
    const { dir, image, names } = project({ 'compose.yaml': text });
    expect(image.tag).toBe('1.2.2');
    expect(switched(image, '1.3.0').text).toBe(text.replace(':1.2.2 #', ':1.3.0 #'));
    expect(composeSays(dir, names)).toBe('atlasai/tenant-plane:1.3.0');
  });

  it('behind a list of merged anchors and an alias of the image itself', () => {
    const text = 'x-image: &img atlasai/tenant-plane:1.2.2\nx-a: &a\n  restart: always\nx-b: &b\n  image: *img\nservices:\n  tenant-plane:\n    <<: [*a, *b]\n';
    const { image } = project({ 'compose.yaml': text });
    expect(switched(image, '1.3.0').text).toBe(text.replace('&img atlasai/tenant-plane:1.2.2', '&img atlasai/tenant-plane:1.3.0'));
  });

  it('in the override file when it sets the image: that is the version that runs', () => {
    const base = 'services:\n  tenant-plane:\n    image: atlasai/tenant-plane:1.0.0\n    network_mode: host\n';
    const override = '# pinned here\nservices:\n  tenant-plane:\n    image: atlasai/tenant-plane:1.2.2\n';
    const { dir, image, names } = project({ 'docker-compose.yml': base, 'docker-compose.override.yml': override });
    expect(image.tag).toBe('1.2.2');
    expect(switched(image, '1.3.0')).toEqual({ file: names[1], text: override.replace('1.2.2', '1.3.0') });
    expect(readFileSync(names[0]!, 'utf8')).toBe(base);
    expect(composeSays(dir, names)).toBe('atlasai/tenant-plane:1.3.0');
  });

  it('${VAR} set in .env: the value is changed in .env, every other line kept', () => {
    const env = '# versions\nexport ATLAS_TAG="1.2.2"\nOTHER=1\n';
    const { dir, image, names } = project({ 'compose.yaml': 'services:\n  tenant-plane:\n    image: atlasai/tenant-plane:${ATLAS_TAG:-1.0.0}\n', '.env': env });
    expect(image.tag).toBe('1.2.2');
    expect((image.place as TagPlace).what).toMatch(/^ATLAS_TAG in .*\.env$/);
    expect(switched(image, '1.3.0').text).toBe(env.replace('"1.2.2"', '"1.3.0"'));
    expect(composeSays(dir, names)).toBe('atlasai/tenant-plane:1.3.0');
  });

  it('${VAR:-default} set nowhere: the default is changed in place', () => {
    const text = 'services:\n  tenant-plane:\n    image: "atlasai/tenant-plane:${ATLAS_TAG:-1.2.2}"\n';
    const { dir, image, names } = project({ 'compose.yaml': text, '.env': 'OTHER=1\n' });
    expect(image.tag).toBe('1.2.2');
    expect(switched(image, '1.3.0').text).toBe(text.replace(':-1.2.2}', ':-1.3.0}'));
    expect(composeSays(dir, names)).toBe('atlasai/tenant-plane:1.3.0');
  });

  it('reads a digest pin apart from the tag (the runtime refuses to switch such an image)', () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    const { image } = project({ 'compose.yaml': `services:\n  tenant-plane:\n    image: atlasai/tenant-plane:1.2.2@${digest}\n` });
    expect(image).toMatchObject({ repository: 'atlasai/tenant-plane', tag: '1.2.2', digest });
    expect(splitImage(`localhost:5000/a/b@${digest}`)).toEqual({ repository: 'localhost:5000/a/b', tag: '', digest });
  });

  it.each([
    [
      'a tag built from two variables',
      { 'compose.yaml': 'services:\n  tenant-plane:\n    image: atlasai/tenant-plane:${MAJOR}.${MINOR}\n', '.env': 'MAJOR=1\nMINOR=2\n' },
      {},
      /built from several parts; set it to the version by hand/,
    ],
    [
      'a variable holding more than the tag',
      { 'compose.yaml': 'services:\n  tenant-plane:\n    image: ${TP_IMAGE}\n', '.env': 'TP_IMAGE=atlasai/tenant-plane:1.2.2\n' },
      {},
      /\$\{TP_IMAGE\} of `tenant-plane` holds more than the tag/,
    ],
    [
      'a variable set only in the shell',
      { 'compose.yaml': 'services:\n  tenant-plane:\n    image: atlasai/tenant-plane:${TP_TAG}\n' },
      { TP_TAG: '1.2.2' },
      /set in the environment tpctl runs in; set TP_TAG in \.env instead/,
    ],
    [
      'a variable set nowhere',
      { 'compose.yaml': 'services:\n  tenant-plane:\n    image: atlasai/tenant-plane:${TAG}\n' },
      {},
      /comes from \$\{TAG\}, which is set neither in \.env nor with a default/,
    ],
    [
      'an image written with escapes',
      { 'compose.yaml': 'services:\n  tenant-plane:\n    image: "atlasai/tenant-plane:\\u0031.2.2"\n' },
      {},
      /written with escapes/,
    ],
    [
      'an image from `extends:`',
      {
        'compose.yaml': 'services:\n  tenant-plane:\n    extends:\n      file: base.yml\n      service: tp\n',
        'base.yml': 'services:\n  tp:\n    image: atlasai/tenant-plane:1.2.2\n',
      },
      {},
      /may come from `extends:`/,
    ],
  ])('refuses %s, saying what to change by hand', (_what, files, shell, message) => {
    const { image } = project(files, shell);
    expect(refusal(image)).toMatch(message);
  });

  it('refuses what Compose itself would not read, with where', () => {
    const inputs = (text: string) => ({ files: [{ path: '/srv/compose.yaml', text }], envFile: undefined, shell: {} });
    expect(() => findServiceImage(inputs('services:\n  tenant-plane: [unclosed\n'), 'tenant-plane', 'x:1')).toThrow(
      /\/srv\/compose\.yaml is not valid YAML \(line \d+, column \d+\)/,
    );
    expect(() => effectiveImage('services:\n  other:\n    image: x:1\n', 'tenant-plane')).toThrow(ComposeFileError);
    // A file that reads differently from what Compose says (here: Compose was given other files).
    expect(
      refusal(findServiceImage(inputs('services:\n  tenant-plane:\n    image: atlasai/tenant-plane:1.0.0\n'), 'tenant-plane', 'atlasai/tenant-plane:1.2.2')),
    ).toMatch(/Compose runs atlasai\/tenant-plane:1\.2\.2 but \/srv\/compose\.yaml reads as atlasai\/tenant-plane:1\.0\.0/);
  });

  it('reads .env as Compose does: quotes removed, export allowed, the last line of a name wins', () => {
    const vars = parseEnvFile("A='x y'\n# c\n  B = 2 \nnot a line\nexport B=3\n");
    expect([...vars].map(([k, v]) => [k, v.value])).toEqual([
      ['A', 'x y'],
      ['B', '3'],
    ]);
  });
});

describe('which files Compose reads', () => {
  const dirWith = (names: string[]) => {
    const dir = tempDir('atlas-compose-files-');
    for (const name of names) writeFileSync(path.join(dir, name), 'services: {}\n');
    return dir;
  };

  it('prefers the names in the order of the Compose in use, with the override file beside', () => {
    const dir = dirWith(['docker-compose.yml', 'compose.yaml', 'compose.override.yaml']);
    expect(composeFiles(dir, {}, ['docker', 'compose'])).toEqual([path.join(dir, 'compose.yaml'), path.join(dir, 'compose.override.yaml')]);
    expect(composeFiles(dir, {}, ['docker-compose'])).toEqual([path.join(dir, 'docker-compose.yml'), path.join(dir, 'compose.override.yaml')]);
  });

  it('looks in the parent directories when the working directory has none', () => {
    const dir = dirWith(['compose.yml']);
    mkdirSync(path.join(dir, 'data', 'logs'), { recursive: true });
    expect(composeFiles(path.join(dir, 'data', 'logs'), {}, ['docker', 'compose'])).toEqual([path.join(dir, 'compose.yml')]);
  });

  it('takes COMPOSE_FILE, from the environment or .env, split on COMPOSE_PATH_SEPARATOR', () => {
    const dir = dirWith(['a.yml', 'b.yml', 'docker-compose.yml']);
    expect(composeFiles(dir, { COMPOSE_FILE: 'a.yml:b.yml' }, ['docker-compose'])).toEqual([path.join(dir, 'a.yml'), path.join(dir, 'b.yml')]);
    expect(composeFiles(dir, { COMPOSE_FILE: 'b.yml;a.yml', COMPOSE_PATH_SEPARATOR: ';' }, ['docker-compose'])).toEqual([
      path.join(dir, 'b.yml'),
      path.join(dir, 'a.yml'),
    ]);
    writeFileSync(path.join(dir, '.env'), 'COMPOSE_FILE=b.yml\n');
    expect(composeFiles(dir, {}, ['docker-compose'])).toEqual([path.join(dir, 'b.yml')]);
  });

  it.each([
    ['a COMPOSE_FILE that names a missing file', ['a.yml'], { COMPOSE_FILE: 'a.yml:gone.yml' }, /COMPOSE_FILE names \S+gone\.yml, which does not exist/],
    [
      'two override files',
      ['compose.yaml', 'compose.override.yaml', 'docker-compose.override.yml'],
      {},
      /has compose\.override\.yaml and docker-compose\.override\.yml: Compose reads one override file; keep one/,
    ],
  ])('refuses %s', (_what, names, env, message) => {
    expect(() => composeFiles(dirWith(names), env, ['docker', 'compose'])).toThrow(message);
  });

  it('says where it looked when there is no Compose file', () => {
    expect(() => composeFiles('/', {}, ['docker', 'compose'])).toThrow(
      /no Compose file \(compose\.yaml, compose\.yml, docker-compose\.yaml, docker-compose\.yml\) in \/ or above it/,
    );
  });
});

describe('Compose commands', () => {
  const v1 = new ComposeCommands(['docker-compose'], ['/srv/atlas/docker-compose.yml'], 'tenant-plane');
  const v2 = new ComposeCommands(['docker', 'compose'], ['/srv/atlas/compose.yaml', '/srv/atlas/compose.override.yaml'], 'tenant-plane');

  it('are the exact argument lists, run in the deployment directory, for v1 and v2', () => {
    // The scripts' ATLAS_VERSION (the run's target) is kept from Compose's interpolation.
    expect(v1.up()).toEqual({
      argv: ['docker-compose', '-f', '/srv/atlas/docker-compose.yml', 'up', '-d', '--no-deps', 'tenant-plane'],
      cwd: '/srv/atlas',
      env: { ATLAS_VERSION: undefined },
    });
    expect(v2.up().argv).toEqual([
      'docker',
      'compose',
      '-f',
      '/srv/atlas/compose.yaml',
      '-f',
      '/srv/atlas/compose.override.yaml',
      'up',
      '-d',
      '--no-deps',
      'tenant-plane',
    ]);
    expect(v2.config().argv.slice(-1)).toEqual(['config']);
    expect(v2.stop().argv.slice(-2)).toEqual(['stop', 'tenant-plane']);
    expect(v2.start().argv.slice(-4)).toEqual(['up', '-d', '--no-deps', 'tenant-plane']);
    expect(v2.logs(20).argv.slice(-5)).toEqual(['logs', '--no-color', '--tail', '20', 'tenant-plane']);
  });

  it('find the container by the labels Compose puts on it, and read it with the docker CLI', () => {
    expect(v1.containerId().argv).toEqual([
      'docker',
      'ps',
      '-aq',
      '--filter',
      'label=com.docker.compose.project.working_dir=/srv/atlas',
      '--filter',
      'label=com.docker.compose.service=tenant-plane',
      '--filter',
      'label=com.docker.compose.oneoff=False',
    ]);
    // A candidate: a one-off container of the service, labelled, on the port the proxy expects.
    expect(v1.candidateIds().argv).toEqual([
      'docker',
      'ps',
      '-aq',
      '--filter',
      'label=com.docker.compose.project.working_dir=/srv/atlas',
      '--filter',
      'label=org.atlasai.candidate=true',
    ]);
    // Under a project of its own (Compose v1 would link it to the service's container, which host networking refuses).
    expect(v1.runCandidate('atlas', 3002, undefined).argv).toEqual([
      'docker-compose',
      '-p',
      'atlas-candidate',
      '-f',
      '/srv/atlas/docker-compose.yml',
      'run',
      '-d',
      '--no-deps',
      '-l',
      'org.atlasai.candidate=true',
      '-e',
      'ATLAS_PORT=3002',
      'tenant-plane',
    ]);
    expect(v1.runCandidate('atlas', 3000, 'tenant-plane-candidate').argv.slice(-3)).toEqual(['--name', 'tenant-plane-candidate', 'tenant-plane']);
    expect(ComposeCommands.execIn('abc', 'cat', '/app/.atlas-version').argv).toEqual(['docker', 'exec', 'abc', 'cat', '/app/.atlas-version']);
    expect(ComposeCommands.inspectState('abc').argv).toEqual(['docker', 'inspect', '--format', '{{.RestartCount}} {{json .State}}', 'abc']);
    expect(ComposeCommands.imagePresent('atlasai/tenant-plane:1.3.0').argv).toEqual([
      'docker',
      'image',
      'inspect',
      '--format',
      '{{.Id}}',
      'atlasai/tenant-plane:1.3.0',
    ]);
    expect(ComposeCommands.pull('atlasai/tenant-plane:1.3.0')).toEqual({ argv: ['docker', 'pull', 'atlasai/tenant-plane:1.3.0'], timeoutMs: 300_000 });
    expect(ComposeCommands.imageTags('atlasai/tenant-plane').argv).toEqual(['docker', 'images', 'atlasai/tenant-plane', '--format', '{{.Tag}}']);
  });

  it("read a release's metadata from its image label, and run its own migrate status on the host network, DB_URL in the environment only", () => {
    expect(ComposeCommands.imageLabels('atlasai/tenant-plane:1.3.0').argv).toEqual([
      'docker',
      'image',
      'inspect',
      '--format',
      '{{json .Config.Labels}}',
      'atlasai/tenant-plane:1.3.0',
    ]);
    const url = 'postgresql://atlas:s3cret@127.0.0.1:5432/atlas';
    const status = ComposeCommands.migrateStatus('atlasai/tenant-plane:1.2.2', url);
    expect(status.argv).toEqual([
      'docker',
      'run',
      '--rm',
      '--network',
      'host',
      '-e',
      'DB_URL',
      'atlasai/tenant-plane:1.2.2',
      'node',
      '/app/dist/cli/tpctl.js',
      'migrate',
      'status',
      '--json',
    ]);
    expect(status.env).toEqual({ DB_URL: url });
    expect(status.argv.join(' ')).not.toContain('s3cret');
  });
});

// `docker inspect --format '{{.RestartCount}} {{json .State}}'`, captured from Docker Engine
// 20.10 (Debian) with client 28 on these machines: the image running, a container whose process
// exited with 1, one under `restart: always` between two restarts, and one caught running again
// after a crash (its process lives 1.5 s).
const RUNNING =
  '0 {"Status":"running","Running":true,"Paused":false,"Restarting":false,"OOMKilled":false,"Dead":false,"Pid":29081,"ExitCode":0,"Error":"","StartedAt":"2026-12-01T15:20:32.262185107Z","FinishedAt":"0001-01-01T00:00:00Z","Health":{"Status":"starting","FailingStreak":0,"Log":[]}}';
const EXITED =
  '0 {"Status":"exited","Running":false,"Paused":false,"Restarting":false,"OOMKilled":false,"Dead":false,"Pid":0,"ExitCode":1,"Error":"","StartedAt":"2026-12-01T15:20:37.653354241Z","FinishedAt":"2026-12-01T15:20:37.68671253Z","Health":{"Status":"unhealthy","FailingStreak":0,"Log":[]}}';
const RESTARTING =
  '6 {"Status":"restarting","Running":true,"Paused":false,"Restarting":true,"OOMKilled":false,"Dead":false,"Pid":0,"ExitCode":1,"Error":"","StartedAt":"2026-12-01T15:20:42.149825336Z","FinishedAt":"2026-12-01T15:20:42.21044444Z","Health":{"Status":"unhealthy","FailingStreak":0,"Log":[]}}';
const BETWEEN_CRASHES =
  '1 {"Status":"running","Running":true,"Paused":false,"Restarting":false,"OOMKilled":false,"Dead":false,"Pid":30228,"ExitCode":0,"Error":"","StartedAt":"2026-12-01T15:21:05.127663178Z","FinishedAt":"2026-12-01T15:21:04.944687265Z","Health":{"Status":"starting","FailingStreak":0,"Log":[]}}';

describe('container state (docker inspect)', () => {
  it('reads a running container as running and not crashed', () => {
    expect(parseContainerState(RUNNING)).toEqual({ running: true, crashed: false, exitCode: undefined, detail: 'running' });
  });

  it('reads an exited, a restarting and a crash-looping container as crashed, with the exit code when there is one', () => {
    expect(parseContainerState(EXITED)).toEqual({ running: false, crashed: true, exitCode: 1, detail: 'exited with 1' });
    expect(parseContainerState(RESTARTING)).toEqual({ running: false, crashed: true, exitCode: 1, detail: 'restarting after exit 1 (restarted 6 times)' });
    expect(parseContainerState(BETWEEN_CRASHES)).toEqual({ running: true, crashed: true, exitCode: undefined, detail: 'crash-looping: restarted 1 time' });
  });

  it("says what Docker's error was", () => {
    const failed = EXITED.replace('"Error":""', '"Error":"OCI runtime create failed: exec: \\"node\\": not found"').replace('"ExitCode":1', '"ExitCode":127');
    expect(parseContainerState(failed).detail).toBe('exited with 127: OCI runtime create failed: exec: "node": not found');
  });

  it('throws on output that is not of that form (the driver treats a state it cannot read as unknown)', () => {
    expect(() => parseContainerState('Error: No such object: abc')).toThrow();
  });
});
