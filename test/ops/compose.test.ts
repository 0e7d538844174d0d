import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ComposeCommands, parseContainerState } from '../../src/ops/runtimes/compose.js';
import { ComposeFileError, findServiceImage, parseEnvFile, setComposeTag, setEnvVar } from '../../src/ops/runtimes/compose-file.js';
import { appRoot } from '../../src/shared/app-root.js';

/** The Compose driver without Docker: its file edits, its commands as data, and its reading of `docker inspect`. */

const repositoryFile = readFileSync(path.join(appRoot, 'docker-compose.yml'), 'utf8');

describe('the Compose file', () => {
  it("finds the tag of the repository's own docker-compose.yml and changes only its characters", () => {
    const image = findServiceImage(repositoryFile, 'tenant-plane', undefined);
    expect(image).toMatchObject({ repository: 'atlasai/tenant-plane', tag: '1.3.0', source: { kind: 'literal' } });
    const edited = setComposeTag(repositoryFile, image, '1.3.1');
    expect(edited).toBe(repositoryFile.replace('image: atlasai/tenant-plane:1.3.0', 'image: atlasai/tenant-plane:1.3.1'));
    expect(findServiceImage(edited, 'tenant-plane', undefined).tag).toBe('1.3.1');
  });

  it('keeps quoting, comments and a registry with a port', () => {
    const text = `services:\n  tenant-plane:\n    # pinned by tpctl\n    image: "registry.example:5000/atlasai/tenant-plane:1.2.2" # the app\n`;
    const image = findServiceImage(text, 'tenant-plane', undefined);
    expect(image).toMatchObject({ repository: 'registry.example:5000/atlasai/tenant-plane', tag: '1.2.2' });
    expect(setComposeTag(text, image, '1.3.0')).toBe(text.replace(':1.2.2"', ':1.3.0"'));
  });

  it('a tag from ${VAR} is read from .env and changed there; a ${VAR:-default} not in .env, in place', () => {
    const text = 'services:\n  tenant-plane:\n    image: atlasai/tenant-plane:${ATLAS_VERSION:-1.2.2}\n';
    const fromEnv = findServiceImage(text, 'tenant-plane', '# versions\nexport ATLAS_VERSION="1.2.3"\nOTHER=1\n');
    expect(fromEnv).toMatchObject({ tag: '1.2.3', source: { kind: 'env-file', variable: 'ATLAS_VERSION' } });
    expect(setComposeTag(text, fromEnv, '1.3.0')).toBe(text);
    expect(setEnvVar('# versions\nexport ATLAS_VERSION="1.2.3"\nOTHER=1\n', 'ATLAS_VERSION', '1.3.0')).toBe('# versions\nexport ATLAS_VERSION="1.3.0"\nOTHER=1\n');
    const byDefault = findServiceImage(text, 'tenant-plane', 'OTHER=1\n');
    expect(byDefault).toMatchObject({ tag: '1.2.2', source: { kind: 'default', variable: 'ATLAS_VERSION' } });
    expect(setComposeTag(text, byDefault, '1.3.0')).toBe(text.replace(':-1.2.2}', ':-1.3.0}'));
  });

  it('adds a variable missing from .env at its end, keeping what is there', () => {
    expect(setEnvVar('A=1', 'ATLAS_VERSION', '1.3.0')).toBe('A=1\nATLAS_VERSION=1.3.0\n');
    expect(setEnvVar('', 'ATLAS_VERSION', '1.3.0')).toBe('ATLAS_VERSION=1.3.0\n');
    expect(parseEnvFile("A='x y'\n# c\n  B = 2 \nnot a line\n")).toEqual(new Map([['A', 'x y'], ['B', '2']]));
  });

  it.each([
    ['not YAML', 'services:\n  tenant-plane: [unclosed\n', /is not valid YAML \(line \d+, column \d+\)/],
    ['without services', 'version: "3"\n', /has no `services:` map/],
    ['without the service', 'services:\n  other:\n    image: x:1\n', /has no `image:` for service `tenant-plane`/],
    ['with an image that is not a string', 'services:\n  tenant-plane:\n    image: [a, b]\n', /has no `image:` for service `tenant-plane`/],
    ['with a variable set nowhere', 'services:\n  tenant-plane:\n    image: atlasai/tenant-plane:${TAG}\n', /comes from \$\{TAG\}, which is set neither in \.env nor with a default/],
  ])('refuses a file %s with what to change', (_what, text, message) => {
    expect(() => findServiceImage(text, 'tenant-plane', undefined)).toThrow(ComposeFileError);
    expect(() => findServiceImage(text, 'tenant-plane', undefined)).toThrow(message);
  });
});

describe('Compose commands', () => {
  const v1 = new ComposeCommands(['docker-compose'], '/srv/atlas/docker-compose.yml', 'tenant-plane');
  const v2 = new ComposeCommands(['docker', 'compose'], '/srv/atlas/docker-compose.yml', 'tenant-plane');

  it('are the exact argument lists, run in the deployment directory, for v1 and v2', () => {
    expect(v1.up()).toEqual({ argv: ['docker-compose', '-f', '/srv/atlas/docker-compose.yml', 'up', '-d', '--no-deps', 'tenant-plane'], cwd: '/srv/atlas' });
    expect(v2.up().argv).toEqual(['docker', 'compose', '-f', '/srv/atlas/docker-compose.yml', 'up', '-d', '--no-deps', 'tenant-plane']);
    expect(v2.validate().argv.slice(-2)).toEqual(['config', '--quiet']);
    expect(v2.stop().argv.slice(-2)).toEqual(['stop', 'tenant-plane']);
    expect(v2.start().argv.slice(-4)).toEqual(['up', '-d', '--no-deps', 'tenant-plane']);
    expect(v2.logs(20).argv.slice(-5)).toEqual(['logs', '--no-color', '--tail', '20', 'tenant-plane']);
  });

  it('find the container by the labels Compose puts on it, and read it with the docker CLI', () => {
    expect(v1.containerId().argv).toEqual([
      'docker', 'ps', '-aq',
      '--filter', 'label=com.docker.compose.project.working_dir=/srv/atlas',
      '--filter', 'label=com.docker.compose.service=tenant-plane',
    ]);
    expect(ComposeCommands.execIn('abc', 'cat', '/app/.atlas-version').argv).toEqual(['docker', 'exec', 'abc', 'cat', '/app/.atlas-version']);
    expect(ComposeCommands.inspectState('abc').argv).toEqual(['docker', 'inspect', '--format', '{{.RestartCount}} {{json .State}}', 'abc']);
    expect(ComposeCommands.imagePresent('atlasai/tenant-plane:1.3.0').argv).toEqual(['docker', 'image', 'inspect', '--format', '{{.Id}}', 'atlasai/tenant-plane:1.3.0']);
    expect(ComposeCommands.pull('atlasai/tenant-plane:1.3.0')).toEqual({ argv: ['docker', 'pull', 'atlasai/tenant-plane:1.3.0'], timeoutMs: 300_000 });
    expect(ComposeCommands.imageTags('atlasai/tenant-plane').argv).toEqual(['docker', 'images', 'atlasai/tenant-plane', '--format', '{{.Tag}}']);
  });

  it('read a release\'s metadata from its image label, and run its own migrate status on the host network, DB_URL in the environment only', () => {
    expect(ComposeCommands.imageLabels('atlasai/tenant-plane:1.3.0').argv).toEqual(['docker', 'image', 'inspect', '--format', '{{json .Config.Labels}}', 'atlasai/tenant-plane:1.3.0']);
    const url = 'postgresql://atlas:s3cret@127.0.0.1:5432/atlas';
    const status = ComposeCommands.migrateStatus('atlasai/tenant-plane:1.2.2', url);
    expect(status.argv).toEqual(['docker', 'run', '--rm', '--network', 'host', '-e', 'DB_URL', 'atlasai/tenant-plane:1.2.2', 'node', '/app/dist/cli/tpctl.js', 'migrate', 'status', '--json']);
    expect(status.env).toEqual({ DB_URL: url });
    expect(status.argv.join(' ')).not.toContain('s3cret');
  });
});

// `docker inspect --format '{{.RestartCount}} {{json .State}}'`, captured from Docker Engine
// 20.10 (Debian) with client 28 on these machines: the image running, a container whose process
// exited with 1, one under `restart: always` between two restarts, and one caught running again
// after a crash (its process lives 1.5 s).
const RUNNING = '0 {"Status":"running","Running":true,"Paused":false,"Restarting":false,"OOMKilled":false,"Dead":false,"Pid":29081,"ExitCode":0,"Error":"","StartedAt":"2026-12-01T15:20:32.262185107Z","FinishedAt":"0001-01-01T00:00:00Z","Health":{"Status":"starting","FailingStreak":0,"Log":[]}}';
const EXITED = '0 {"Status":"exited","Running":false,"Paused":false,"Restarting":false,"OOMKilled":false,"Dead":false,"Pid":0,"ExitCode":1,"Error":"","StartedAt":"2026-12-01T15:20:37.653354241Z","FinishedAt":"2026-12-01T15:20:37.68671253Z","Health":{"Status":"unhealthy","FailingStreak":0,"Log":[]}}';
const RESTARTING = '6 {"Status":"restarting","Running":true,"Paused":false,"Restarting":true,"OOMKilled":false,"Dead":false,"Pid":0,"ExitCode":1,"Error":"","StartedAt":"2026-12-01T15:20:42.149825336Z","FinishedAt":"2026-12-01T15:20:42.21044444Z","Health":{"Status":"unhealthy","FailingStreak":0,"Log":[]}}';
const BETWEEN_CRASHES = '1 {"Status":"running","Running":true,"Paused":false,"Restarting":false,"OOMKilled":false,"Dead":false,"Pid":30228,"ExitCode":0,"Error":"","StartedAt":"2026-12-01T15:21:05.127663178Z","FinishedAt":"2026-12-01T15:21:04.944687265Z","Health":{"Status":"starting","FailingStreak":0,"Log":[]}}';

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
