import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ComposeFileError, parseEnvFile } from './file.js';

/** `docker compose` (v2) where present, else Debian's `docker-compose` (v1). */
export type ComposeCli = ['docker', 'compose'] | ['docker-compose'];

/** The names each Compose looks for, in its own order of preference (v1 and v2 differ). */
const NAMES = {
  v2: ['compose.yaml', 'compose.yml', 'docker-compose.yaml', 'docker-compose.yml'],
  v1: ['docker-compose.yml', 'docker-compose.yaml', 'compose.yml', 'compose.yaml'],
};
const OVERRIDES = ['compose.override.yaml', 'compose.override.yml', 'docker-compose.override.yaml', 'docker-compose.override.yml'];

/**
 * The project's Compose files, found the way Compose finds them: COMPOSE_FILE (from the
 * environment, else the .env of the working directory) split on COMPOSE_PATH_SEPARATOR; else
 * the first known name in the working directory or the nearest parent that has one, plus the
 * override file beside it. tpctl then names each with `-f`, so Compose reads exactly these.
 */
export function composeFiles(cwd: string, env: Readonly<Record<string, string | undefined>>, cli: ComposeCli): string[] {
  const dotenvPath = path.join(cwd, '.env');
  const dotenv = existsSync(dotenvPath) ? parseEnvFile(readFileSync(dotenvPath, 'utf8')) : undefined;
  const setting = (name: string) => env[name] || dotenv?.get(name)?.value;
  const list = setting('COMPOSE_FILE');
  if (list) {
    const files = list
      .split(setting('COMPOSE_PATH_SEPARATOR') || path.delimiter)
      .filter(Boolean)
      .map((f) => path.resolve(cwd, f));
    const missing = files.find((f) => !existsSync(f));
    if (missing) throw new ComposeFileError(`COMPOSE_FILE names ${missing}, which does not exist`);
    return files;
  }
  const names = cli.length === 2 ? NAMES.v2 : NAMES.v1;
  for (let dir = path.resolve(cwd); ; dir = path.dirname(dir)) {
    const main = names.find((name) => existsSync(path.join(dir, name)));
    if (main) {
      const overrides = OVERRIDES.filter((name) => existsSync(path.join(dir, name)));
      if (overrides.length > 1) throw new ComposeFileError(`${dir} has ${overrides.join(' and ')}: Compose reads one override file; keep one`);
      return [main, ...overrides].map((name) => path.join(dir, name));
    }
    if (path.dirname(dir) === dir) break;
  }
  throw new ComposeFileError(`no Compose file (${names.join(', ')}) in ${cwd} or above it`);
}
