import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { appRoot } from '../../src/shared/app-root.js';

/** The real platforms scripts/test-platforms.sh builds from their source modules; it pins their versions. */
export type PlatformTool = 'helm3' | 'helm4' | 'compose' | 'k3s';

const script = path.join(appRoot, 'scripts', 'test-platforms.sh');

/** Runs scripts/test-platforms.sh with these arguments; its output, trimmed. */
export function testPlatforms(...args: string[]): string {
  return execFileSync('bash', [script, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 }).trim();
}

/** The tool's binary, built once per machine and version into the tools cache (minutes the first time). */
export function platformTool(name: PlatformTool): string {
  return testPlatforms('path', name);
}

/** A Docker configuration directory whose only content is the Compose v2 plugin: `DOCKER_CONFIG=<it>` makes `docker compose` that Compose. */
export function composeV2Config(): string {
  return path.dirname(path.dirname(platformTool('compose')));
}
