import { isAlias, isMap, isScalar, isSeq, parseDocument, type Document, type Node } from 'yaml';

/**
 * Where the Compose files set the Tenant Plane's image tag, and how to change it while keeping
 * every other character of the operator's files. Compose's own merged configuration (`compose
 * config`) says which image runs; this module only finds the characters that value comes from
 * (a literal tag, an anchor a service merges, a variable's value in .env, or a `${VAR:-default}`)
 * and checks that they give exactly what Compose says before anything is changed.
 */
export class ComposeFileError extends Error {}

export interface SourceFile {
  path: string;
  text: string;
}

/** The characters [start, end) of one file that hold the tag. */
export interface TagPlace {
  file: string;
  range: [number, number];
  /** For messages: `the tag in docker-compose.override.yml`, `ATLAS_TAG in .env`. */
  what: string;
}

export interface ServiceImage {
  repository: string;
  tag: string;
  /** `sha256:…` when the image is pinned by digest (Docker then runs the digest, whatever the tag). */
  digest: string | undefined;
  /** Where the tag can be changed, or why it cannot be changed safely. */
  place: TagPlace | { refused: string };
}

/** Splits `registry:5000/repo:tag@sha256:…` into its parts (a registry's port is not a tag). */
export function splitImage(image: string): { repository: string; tag: string; digest: string | undefined } {
  const at = image.indexOf('@');
  const named = at < 0 ? image : image.slice(0, at);
  const digest = at < 0 ? undefined : image.slice(at + 1);
  const colon = named.lastIndexOf(':');
  if (colon <= named.lastIndexOf('/')) return { repository: named, tag: '', digest };
  return { repository: named.slice(0, colon), tag: named.slice(colon + 1), digest };
}

function yamlDocument(file: SourceFile): Document {
  const doc = parseDocument(file.text, { keepSourceTokens: true, uniqueKeys: false });
  const e = doc.errors[0];
  if (e) {
    const [line, col] = e.linePos?.[0] ? [e.linePos[0].line, e.linePos[0].col] : [0, 0];
    throw new ComposeFileError(`${file.path} is not valid YAML (line ${line}, column ${col}): ${e.message.split('\n')[0]}`);
  }
  return doc;
}

/** The service's image in Compose's merged configuration (the output of `compose config`). */
export function effectiveImage(configOutput: string, service: string): string {
  const image = yamlDocument({ path: 'the output of compose config', text: configOutput }).getIn(['services', service, 'image']);
  if (typeof image !== 'string' || !image) throw new ComposeFileError(`Compose's configuration has no \`image:\` for service \`${service}\``);
  return image;
}

/** The service's environment in Compose's merged configuration (names without a value left out). */
export function serviceEnvironment(configOutput: string, service: string): Record<string, string> {
  const s = yamlDocument({ path: 'the output of compose config', text: configOutput }).getIn(['services', service]);
  const settings = (isMap(s) ? s.toJSON() : {}) as { environment?: unknown };
  const raw = settings.environment;
  const pairs: [string, unknown][] = Array.isArray(raw)
    ? raw.flatMap((item) =>
        typeof item === 'string' && item.includes('=') ? [[item.slice(0, item.indexOf('=')), item.slice(item.indexOf('=') + 1)] as [string, unknown]] : [],
      )
    : raw && typeof raw === 'object'
      ? Object.entries(raw)
      : [];
  return Object.fromEntries(
    pairs
      .filter(([name, value]) => /^[A-Za-z_]\w*$/.test(name) && ['string', 'number', 'boolean'].includes(typeof value))
      .map(([name, value]) => [name, String(value)]),
  );
}

function resolved(doc: Document, node: unknown): unknown {
  return isAlias(node) ? node.resolve(doc) : node;
}

/**
 * A key of a mapping as YAML merge keys make it (`<<: *tp`, `<<: [*a, *b]`): the mapping's own
 * key first, then each merged mapping in order, as Compose's YAML loader reads them.
 */
function lookUp(doc: Document, node: unknown, key: string, depth = 0): Node | undefined {
  const map = resolved(doc, node);
  if (!isMap(map) || depth > 20) return undefined;
  const own = map.items.find((p) => isScalar(p.key) && p.key.value === key);
  if (own) return resolved(doc, own.value) as Node | undefined;
  for (const pair of map.items) {
    if (!isScalar(pair.key) || pair.key.value !== '<<') continue;
    const value = resolved(doc, pair.value);
    for (const merged of isSeq(value) ? value.items : [value]) {
      const found = lookUp(doc, merged, key, depth + 1);
      if (found) return found;
    }
  }
  return undefined;
}

/** A `KEY=value` line of a .env file: the value's characters, without quotes. */
interface EnvEntry {
  value: string;
  range: [number, number];
}

/** Reads a .env file as Compose does (comments and blank lines ignored; quotes removed; the last line of a name wins). */
export function parseEnvFile(text: string): Map<string, EnvEntry> {
  const vars = new Map<string, EnvEntry>();
  const line = /^([ \t]*(?:export[ \t]+)?([A-Za-z_]\w*)[ \t]*=[ \t]*)(?:(['"])(.*?)\3|(.*?))[ \t]*$/gm;
  for (const m of text.matchAll(line)) {
    const value = m[4] ?? m[5] ?? '';
    const start = m.index + m[1]!.length + (m[3] ? 1 : 0);
    vars.set(m[2]!, { value, range: [start, start + value.length] });
  }
  return vars;
}

/** One piece of an image string as Compose interpolates it: text, or `$VAR` / `${VAR…}`. */
interface Piece {
  /** Where the piece is in the string: [start, end). */
  at: [number, number];
  text?: string;
  variable?: { name: string; operator: string; argument: string; argumentAt: number };
}

function pieces(value: string): Piece[] {
  const out: Piece[] = [];
  const re = /\$\$|\$\{(\w+)(?:(:?[-?+])([^}]*))?\}|\$([A-Za-z_]\w*)/g;
  let last = 0;
  for (const m of value.matchAll(re)) {
    if (m.index > last) out.push({ at: [last, m.index], text: value.slice(last, m.index) });
    const at: [number, number] = [m.index, m.index + m[0].length];
    if (m[0] === '$$') out.push({ at, text: '$' });
    else {
      const operator = m[2] ?? '';
      const argumentAt = m.index + 2 + (m[1] ?? '').length + operator.length;
      out.push({ at, variable: { name: (m[1] ?? m[4])!, operator, argument: m[3] ?? '', argumentAt } });
    }
    last = at[1];
  }
  if (last < value.length) out.push({ at: [last, value.length], text: value.slice(last) });
  return out;
}

/** What a variable piece becomes, and whether that is its default. */
function expand(v: NonNullable<Piece['variable']>, env: ReadonlyMap<string, string>): { value: string; byDefault: boolean } {
  const set = env.get(v.name);
  const unset = v.operator.startsWith(':') ? !set : set === undefined;
  if ((v.operator === ':-' || v.operator === '-') && unset) return { value: v.argument, byDefault: true };
  if (v.operator === ':+' || v.operator === '+') return { value: unset ? '' : v.argument, byDefault: true };
  return { value: set ?? '', byDefault: false };
}

export interface ComposeInputs {
  /** The project's files in Compose's order: later ones override earlier ones. */
  files: SourceFile[];
  /** The .env beside the first file, if there is one. */
  envFile: SourceFile | undefined;
  /** The environment Compose runs with (it wins over .env). */
  shell: Readonly<Record<string, string | undefined>>;
}

/**
 * Where `image:` of the service is written, and what Compose makes of it: the last file that
 * sets it (directly or through a merge key or an alias) is where Compose takes it from.
 */
export function findServiceImage(inputs: ComposeInputs, service: string, effective: string): ServiceImage {
  const { repository, tag, digest } = splitImage(effective);
  const refuse = (why: string): ServiceImage => ({ repository, tag, digest, place: { refused: why } });
  let found: { file: SourceFile; node: Node } | undefined;
  for (const file of [...inputs.files].reverse()) {
    const doc = yamlDocument(file);
    const node = lookUp(doc, lookUp(doc, doc.contents, 'services'), service);
    const image = node && lookUp(doc, node, 'image');
    if (image) {
      found = { file, node: image };
      break;
    }
  }
  if (!found)
    return refuse(
      `no Compose file sets \`image:\` of \`${service}\` where tpctl can change it (it may come from \`extends:\`); set its tag to the version by hand`,
    );
  const { file, node } = found;
  if (!isScalar(node) || typeof node.value !== 'string' || !node.range) return refuse(`${file.path}: \`image:\` of \`${service}\` is not a string`);
  const raw = file.text.slice(node.range[0], node.range[1]);
  // Positions in the string are positions in the file when the scalar has no escapes.
  const offset = raw.indexOf(node.value);
  if (offset < 0) return refuse(`${file.path}: \`image:\` of \`${service}\` is written with escapes; write it plainly (${effective})`);
  const base = node.range[0] + offset;

  const dotenv = inputs.envFile ? parseEnvFile(inputs.envFile.text) : new Map<string, EnvEntry>();
  const env = new Map<string, string>([...dotenv].map(([k, e]) => [k, e.value]));
  for (const [k, v] of Object.entries(inputs.shell)) if (v !== undefined) env.set(k, v);

  // Interpolate as Compose does and keep where each piece's value lands.
  let expanded = '';
  const spans = pieces(node.value).map((piece) => {
    const out = piece.text ?? expand(piece.variable!, env).value;
    const span = { piece, from: expanded.length, to: expanded.length + out.length };
    expanded += out;
    return span;
  });
  if (expanded !== effective) {
    return refuse(`Compose runs ${effective} but ${file.path} reads as ${expanded}: tpctl cannot tell where the tag comes from; set it to the version by hand`);
  }
  const tagFrom = repository.length + 1;
  const tagTo = tagFrom + tag.length;
  // An empty tag (a variable set to nothing) is covered by the variable that stands there.
  const covering = spans.filter((s) => (tag ? s.to > tagFrom && s.from < tagTo : s.from === tagFrom && s.piece.variable));
  const only = covering.length === 1 ? covering[0]! : undefined;
  if (!only) return refuse(`${file.path}: the tag of \`${service}\` (${raw}) is built from several parts; set it to the version by hand`);
  const { piece } = only;
  if (piece.text !== undefined) {
    if (piece.text.includes('$')) return refuse(`${file.path}: the tag of \`${service}\` holds \`$$\`; set it by hand`);
    const start = base + piece.at[0] + (tagFrom - only.from);
    return { repository, tag, digest, place: { file: file.path, range: [start, start + tag.length], what: `the tag in ${file.path}` } };
  }
  const v = piece.variable!;
  if (only.from !== tagFrom || only.to !== tagTo)
    return refuse(`${file.path}: \${${v.name}} of \`${service}\` holds more than the tag; set it to the version by hand`);
  if (expand(v, env).byDefault) {
    const start = base + v.argumentAt;
    return {
      repository,
      tag,
      digest,
      place: { file: file.path, range: [start, start + v.argument.length], what: `the default of \${${v.name}} in ${file.path}` },
    };
  }
  if (inputs.shell[v.name] !== undefined) {
    return refuse(
      `the tag of \`${service}\` comes from \${${v.name}}, set in the environment tpctl runs in; set ${v.name} in .env instead (Compose reads it there) and unset it`,
    );
  }
  const entry = dotenv.get(v.name);
  if (!entry || !inputs.envFile)
    return refuse(
      `the tag of \`${service}\` comes from \${${v.name}}, which is set neither in .env nor with a default; add ${v.name}=<version> to .env beside the Compose file`,
    );
  return { repository, tag, digest, place: { file: inputs.envFile.path, range: entry.range, what: `${v.name} in ${inputs.envFile.path}` } };
}

/** The file's text with the tag at `place` set to `version`, every other character kept. */
export function withTag(text: string, place: TagPlace, version: string): string {
  return text.slice(0, place.range[0]) + version + text.slice(place.range[1]);
}
