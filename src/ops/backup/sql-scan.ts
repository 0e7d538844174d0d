/**
 * Just enough of PostgreSQL's lexer to handle the SQL statements of a pg_dump plain-format file:
 * where a statement ends, and which names it qualifies with schema `public`, outside string
 * literals, quoted identifiers, dollar-quoted bodies and comments.
 */
interface Token {
  kind: 'code' | 'string' | 'identifier' | 'comment' | 'body';
  text: string;
  /** A literal, quoted identifier, comment or body that the text ends inside. */
  open?: boolean;
}

const DOLLAR_TAG = /\$(?:[A-Za-z_]\w*)?\$/y;

/** The literal, quoted identifier, comment or body that starts at `i`, if any, and where it ends (-1: it does not). */
function endOf(sql: string, i: number): { kind: Token['kind']; end: number } | undefined {
  const c = sql[i];
  const after = (found: number, length: number) => (found < 0 ? -1 : found + length);
  if (c === "'") {
    const escapes = /[Ee]/.test(sql[i - 1] ?? '') && !/[\w$]/.test(sql[i - 2] ?? '');
    for (let j = i + 1; j < sql.length; j++) {
      if (escapes && sql[j] === '\\') j++;
      else if (sql[j] === "'") {
        if (sql[j + 1] !== "'") return { kind: 'string', end: j + 1 };
        j++;
      }
    }
    return { kind: 'string', end: -1 };
  }
  if (c === '"') return { kind: 'identifier', end: after(sql.indexOf('"', i + 1), 1) };
  if (c === '-' && sql[i + 1] === '-') {
    const j = sql.indexOf('\n', i);
    return { kind: 'comment', end: j < 0 ? sql.length : j };
  }
  if (c === '/' && sql[i + 1] === '*') return { kind: 'comment', end: after(sql.indexOf('*/', i + 2), 2) };
  if (c === '$' && !/[\w$]/.test(sql[i - 1] ?? '')) {
    DOLLAR_TAG.lastIndex = i;
    const tag = DOLLAR_TAG.exec(sql)?.[0];
    if (tag) return { kind: 'body', end: after(sql.indexOf(tag, i + tag.length), tag.length) };
  }
  return undefined;
}

function* tokens(sql: string): Generator<Token> {
  let code = 0;
  for (let i = 0; i < sql.length;) {
    const span = endOf(sql, i);
    if (!span) {
      i++;
      continue;
    }
    if (i > code) yield { kind: 'code', text: sql.slice(code, i) };
    if (span.end < 0) {
      yield { kind: span.kind, text: sql.slice(i), open: true };
      return;
    }
    yield { kind: span.kind, text: sql.slice(i, span.end) };
    i = code = span.end;
  }
  if (code < sql.length) yield { kind: 'code', text: sql.slice(code) };
}

/** Whether `sql` is one or more whole statements: it ends with `;` outside any literal or body. */
export function statementComplete(sql: string): boolean {
  let last: Token | undefined;
  for (const t of tokens(sql)) {
    if (t.open) return false;
    if (t.kind !== 'comment' && (t.kind !== 'code' || t.text.trim())) last = t;
  }
  return last?.kind === 'code' && last.text.trimEnd().endsWith(';');
}

/** A name in schema public: qualified in code ([1]), or a literal read as a name: setval's ([2]), a regclass ([3]). */
const PUBLIC_NAME = /(?<![\w$."])public\.("(?:[^"]|"")+"|[A-Za-z_][\w$]*)|(?:(?<=pg_catalog\.setval\(\s*)'public\.([^']+)'|'public\.([^']+)'(?=::regclass\b))/g;

/**
 * The statement with every object of schema `public` moved to `schema`, and the names of those
 * objects (what the statement touches). Names in literals are moved only where PostgreSQL reads
 * them as names: `'public.x'::regclass` and the sequence given to `pg_catalog.setval`. Function
 * bodies are left as they are: they run after the restored schema has been renamed to public.
 */
export function moveToSchema(sql: string, schema: string): { sql: string; names: Set<string> } {
  const code: [number, number][] = [];
  const literals = new Set<number>();
  let offset = 0;
  for (const t of tokens(sql)) {
    if (t.kind === 'code') code.push([offset, offset + t.text.length]);
    if (t.kind === 'string') literals.add(offset);
    offset += t.text.length;
  }
  const names = new Set<string>();
  const moved = sql.replace(PUBLIC_NAME, (match, name: string | undefined, setval: string | undefined, regclass: string | undefined, at: number) => {
    const literal = setval ?? regclass;
    if (literal !== undefined ? !literals.has(at) : !code.some(([from, to]) => at >= from && at < to)) return match;
    names.add(name ?? literal!);
    return name ? `${schema}.${name}` : `'${schema}.${literal}'`;
  });
  return { sql: moved, names };
}
