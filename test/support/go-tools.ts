import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import path from 'node:path';
import { tempDir } from './temp.js';
import { toolsCacheDir } from './tools-cache.js';

/**
 * The tools the tests run for real that these machines can only build from their Go source
 * modules (the module proxy is reachable; release downloads are not), each version pinned here
 * and nowhere else. `versionVariable` is where the version the tool reports is set at link time.
 */
export const GO_TOOLS = {
  // Later Compose releases carry `exclude` directives, which `go install module@version` refuses.
  compose: { module: 'github.com/docker/compose/v2/cmd', version: 'v2.35.0', versionVariable: 'github.com/docker/compose/v2/internal.Version' },
  helm3: { module: 'helm.sh/helm/v3/cmd/helm', version: 'v3.21.4', versionVariable: 'helm.sh/helm/v3/internal/version.version' },
  helm4: { module: 'helm.sh/helm/v4/cmd/helm', version: 'v4.3.2', versionVariable: 'helm.sh/helm/v4/internal/version.version' },
} as const;

export type GoTool = keyof typeof GO_TOOLS;

/** The tool's binary, built once per machine and version into the tools cache (a few minutes the first time). */
export function goTool(name: GoTool): string {
  const tool = GO_TOOLS[name];
  const binary = path.join(toolsCacheDir(), `${name}-${tool.version}`, path.basename(tool.module));
  if (existsSync(binary)) return binary;
  const gobin = tempDir(`atlas-${name}-build-`);
  const go = existsSync('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : 'go';
  if (go === 'go' && !process.env.PATH?.split(path.delimiter).some((dir) => existsSync(path.join(dir, 'go'))))
    throw new Error(`building ${name} ${tool.version} needs Go (1.24 or newer) and its module proxy: install Go, or put the built binary at ${binary}`);
  execFileSync(go, ['install', `-ldflags=-s -w -X ${tool.versionVariable}=${tool.version}`, `${tool.module}@${tool.version}`], {
    env: { ...process.env, GOBIN: gobin, CGO_ENABLED: '0' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  mkdirSync(path.dirname(binary), { recursive: true });
  // Renamed into place whole: a build killed half-way leaves nothing under the final name.
  renameSync(path.join(gobin, path.basename(tool.module)), binary);
  return binary;
}

/** A Docker configuration directory whose only content is the Compose v2 plugin: `DOCKER_CONFIG=<it>` makes `docker compose` that Compose. */
export function composeV2Config(): string {
  const config = path.join(toolsCacheDir(), `docker-config-compose-${GO_TOOLS.compose.version}`);
  const plugin = path.join(config, 'cli-plugins', 'docker-compose');
  if (!existsSync(plugin)) {
    mkdirSync(path.dirname(plugin), { recursive: true });
    const staged = `${plugin}.${process.pid}`;
    execFileSync('cp', [goTool('compose'), staged]);
    renameSync(staged, plugin);
  }
  return config;
}
