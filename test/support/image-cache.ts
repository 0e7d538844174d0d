import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { appRoot } from '../../src/shared/app-root.js';
import { toolsCacheDir } from './tools-cache.js';

/**
 * The images the tests build, kept by content: each tag is recorded in
 * ~/.cache/atlas-tools/images.json with the key of everything it was built from and the image ID
 * it got. A later run, from any clone, whose key is the same and whose Docker Engine still has
 * that ID under the tag, uses it as it is; anything else builds it again.
 */
const record = () => path.join(toolsCacheDir(), 'images.json');
type Built = Record<string, { key: string; id: string }>;

/** What of the checkout an image is made of; the parts of the release the image build copies from this machine. */
const CHECKOUT = [
  'src',
  'migrations',
  'scripts',
  'deploy/docker',
  'deploy/proxy',
  'package.json',
  'package-lock.json',
  'release.json',
  'tsconfig.json',
  'tsconfig.build.json',
];

function addTree(hash: ReturnType<typeof createHash>, file: string): void {
  if (statSync(file).isDirectory()) {
    for (const name of readdirSync(file).sort()) addTree(hash, path.join(file, name));
    return;
  }
  hash
    .update(`${path.relative(appRoot, file)}\0`)
    .update(readFileSync(file))
    .update('\0');
}

let checkout: string | undefined;
/** The checkout's files and the host programs the images copy (Node.js, HAProxy, the PostgreSQL client), as one hash; once per process. */
export function checkoutKey(): string {
  if (checkout) return checkout;
  const hash = createHash('sha256');
  for (const item of CHECKOUT) addTree(hash, path.join(appRoot, item));
  hash.update(process.version).update(execFileSync('haproxy', ['-v'], { encoding: 'utf8' }).split('\n')[0]!);
  const pg = '/usr/lib/postgresql';
  for (const major of existsSync(pg) ? readdirSync(pg).sort() : []) {
    for (const tool of ['pg_dump', 'psql']) {
      const file = path.join(pg, major, 'bin', tool);
      if (existsSync(file)) hash.update(`${file} ${statSync(file).size} ${statSync(file).mtimeMs}`);
    }
  }
  return (checkout = hash.digest('hex'));
}

/** The ID of the image a tag names, or undefined when the engine has none. */
export function imageId(image: string): string | undefined {
  try {
    return execFileSync('docker', ['image', 'inspect', '--format', '{{.Id}}', image], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

function readBuilt(): Built {
  try {
    return JSON.parse(readFileSync(record(), 'utf8')) as Built;
  } catch {
    return {};
  }
}

/**
 * Runs `build`, which tags `image`, unless the image of that tag was built from the same checkout
 * and `recipe` (what else goes into it: a version, migrations, the base image's ID) and is still there.
 */
export function buildOnce(image: string, recipe: unknown, build: () => void): void {
  const key = createHash('sha256').update(checkoutKey()).update(JSON.stringify(recipe)).digest('hex');
  const known = readBuilt()[image];
  const id = imageId(image);
  if (known?.key === key && id && known.id === id) return;
  build();
  const built = imageId(image);
  if (!built) throw new Error(`building ${image} tagged nothing`);
  mkdirSync(toolsCacheDir(), { recursive: true });
  const partial = `${record()}.${process.pid}`;
  writeFileSync(partial, `${JSON.stringify({ ...readBuilt(), [image]: { key, id: built } }, null, 1)}\n`);
  renameSync(partial, record());
}
