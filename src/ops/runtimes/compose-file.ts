import { isMap, isScalar, parseDocument } from 'yaml';

/**
 * Where a Compose file sets the Tenant Plane's image tag, and how to change it while keeping
 * every other character of the operator's file (comments, quoting, order, formatting): the
 * YAML parser finds the scalar, and only its characters are replaced.
 */
export class ComposeFileError extends Error {}

export type TagSource =
  /** `image: atlasai/tenant-plane:1.2.2` */
  | { kind: 'literal' }
  /** `image: atlasai/tenant-plane:${ATLAS_VERSION}`, the value in .env */
  | { kind: 'env-file'; variable: string }
  /** `image: atlasai/tenant-plane:${ATLAS_VERSION:-1.2.2}`, not set in .env: the default */
  | { kind: 'default'; variable: string };

export interface ServiceImage {
  repository: string;
  tag: string;
  source: TagSource;
  /** The image scalar's place in the file: [start, end) of its source text. */
  range: [number, number];
  raw: string;
}

const VAR_TAG_RE = /^\$\{(\w+)(?::?-([^}]*))?\}$|^\$(\w+)$/;

function splitImage(image: string): { repository: string; tag: string } {
  // A tag given by a variable may hold a colon of its own: `${ATLAS_VERSION:-1.2.2}`.
  const variable = /:(\$\{[^}]*\}|\$\w+)$/.exec(image);
  if (variable) return { repository: image.slice(0, variable.index), tag: variable[1] ?? '' };
  const slash = image.lastIndexOf('/');
  const colon = image.lastIndexOf(':');
  if (colon <= slash) return { repository: image, tag: '' };
  return { repository: image.slice(0, colon), tag: image.slice(colon + 1) };
}

/** Reads `KEY=value` lines of a .env file (comments and blank lines ignored; quotes removed). */
export function parseEnvFile(text: string): Map<string, string> {
  const vars = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^\s*(?:export\s+)?([A-Za-z_]\w*)\s*=\s*(.*?)\s*$/.exec(line);
    if (m?.[1]) vars.set(m[1], (m[2] ?? '').replace(/^(['"])(.*)\1$/, '$2'));
  }
  return vars;
}

export function findServiceImage(text: string, service: string, envFile: string | undefined): ServiceImage {
  const doc = parseDocument(text, { keepSourceTokens: true });
  if (doc.errors.length) {
    const e = doc.errors[0]!;
    const [line, col] = e.linePos?.[0] ? [e.linePos[0].line, e.linePos[0].col] : [0, 0];
    throw new ComposeFileError(`the Compose file is not valid YAML (line ${line}, column ${col}): ${e.message.split('\n')[0]}`);
  }
  const services = doc.get('services', true);
  if (!isMap(services)) throw new ComposeFileError('the Compose file has no `services:` map');
  const node = doc.getIn(['services', service, 'image'], true);
  if (!isScalar(node) || typeof node.value !== 'string' || !node.range) {
    throw new ComposeFileError(`the Compose file has no \`image:\` for service \`${service}\``);
  }
  const { repository, tag: tagText } = splitImage(node.value);
  const range: [number, number] = [node.range[0], node.range[1]];
  const raw = text.slice(range[0], range[1]);
  const variable = VAR_TAG_RE.exec(tagText);
  if (!variable) return { repository, tag: tagText, source: { kind: 'literal' }, range, raw };
  const name = (variable[1] ?? variable[3])!;
  const fromEnv = envFile === undefined ? undefined : parseEnvFile(envFile).get(name);
  if (fromEnv !== undefined) return { repository, tag: fromEnv, source: { kind: 'env-file', variable: name }, range, raw };
  if (variable[2] !== undefined) return { repository, tag: variable[2], source: { kind: 'default', variable: name }, range, raw };
  throw new ComposeFileError(
    `the image tag of \`${service}\` comes from \${${name}}, which is set neither in .env nor with a default; add ${name}=<version> to .env beside the Compose file`,
  );
}

/** The Compose file with the service's image tag set to `version` (literal or default forms). */
export function setComposeTag(text: string, image: ServiceImage, version: string): string {
  let replacement: string;
  if (image.source.kind === 'literal') {
    replacement = image.raw.replace(`${image.repository}:${image.tag}`, `${image.repository}:${version}`);
  } else if (image.source.kind === 'default') {
    replacement = image.raw.replace(/(\$\{\w+:?-)[^}]*\}/, `$1${version}}`);
  } else {
    return text;
  }
  return text.slice(0, image.range[0]) + replacement + text.slice(image.range[1]);
}

/** The .env text with `name=version` set, keeping every other line as it was. */
export function setEnvVar(text: string, name: string, version: string): string {
  const re = new RegExp(`^(\\s*(?:export\\s+)?${name}\\s*=\\s*)(['"]?)[^\\n]*?\\2(\\s*)$`, 'm');
  if (re.test(text)) return text.replace(re, `$1$2${version}$2$3`);
  return `${text}${text === '' || text.endsWith('\n') ? '' : '\n'}${name}=${version}\n`;
}
