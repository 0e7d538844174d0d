import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import path from 'node:path';
import { tempDir } from './temp.js';
import { toolsCacheDir } from './tools-cache.js';

/** The Compose v2 release the guide's `docker compose` commands are run with. */
export const COMPOSE_V2 = 'v2.35.0';

/**
 * A Docker configuration directory whose only content is the Compose v2 plugin, built from its
 * source module once per machine (the Go module proxy is reachable; release downloads are not)
 * and kept in the tools cache. `DOCKER_CONFIG=<it>` makes `docker compose` that Compose.
 */
export function composeV2Config(): string {
  const config = path.join(toolsCacheDir(), `docker-compose-${COMPOSE_V2}`);
  const plugin = path.join(config, 'cli-plugins', 'docker-compose');
  if (existsSync(plugin)) return config;
  const gobin = tempDir('atlas-compose-build-');
  const go = existsSync('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : 'go';
  // Later releases carry `exclude` directives, which `go install module@version` refuses.
  execFileSync(
    go,
    ['install', `-ldflags=-s -w -X github.com/docker/compose/v2/internal.Version=${COMPOSE_V2}`, `github.com/docker/compose/v2/cmd@${COMPOSE_V2}`],
    {
      env: { ...process.env, GOBIN: gobin, CGO_ENABLED: '0', GOFLAGS: '-mod=mod' },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  mkdirSync(path.dirname(plugin), { recursive: true });
  renameSync(path.join(gobin, 'cmd'), plugin);
  return config;
}
