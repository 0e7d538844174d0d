/**
 * Renders the small subset of Helm's Go templates that the chart uses — `.Values`, `.Chart`,
 * `.Release` paths, the `default` and `quote` functions in pipelines, `if` / `end`, and the
 * `{{-` / `-}}` whitespace trims — so that tests can check the chart's output without a helm
 * binary (none can be had here). It is no Helm: a construct outside the subset is an error.
 */
export interface TemplateContext {
  Values: unknown;
  Chart: { AppVersion: string; Name: string };
  Release: { Name: string; Namespace: string };
}

function lookup(path: string, ctx: TemplateContext): unknown {
  if (/^"[^"]*"$/.test(path)) return path.slice(1, -1);
  if (!/^(\.[A-Za-z][\w]*)+$/.test(path)) throw new Error(`template: unsupported expression "${path}"`);
  let value: unknown = ctx;
  for (const key of path.slice(1).split('.')) value = value === undefined || value === null ? undefined : (value as Record<string, unknown>)[key];
  return value;
}

/** What a template prints for a value: scalars only (Helm would need toYaml for the rest: outside the subset). */
function print(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new Error('template: printing a map or list needs toYaml, outside the subset');
}

const empty = (v: unknown) => v === undefined || v === null || v === '' || v === false || (Array.isArray(v) && v.length === 0);

function evaluate(pipeline: string, ctx: TemplateContext): unknown {
  const [first, ...rest] = pipeline.split('|').map((s) => s.trim());
  let value = lookup(first ?? '', ctx);
  for (const call of rest) {
    const [fn, ...args] = call.split(/\s+/);
    if (fn === 'quote' && args.length === 0) value = JSON.stringify(print(value));
    else if (fn === 'default' && args.length === 1) value = empty(value) ? lookup(args[0]!, ctx) : value;
    else throw new Error(`template: unsupported function "${call}"`);
  }
  return value;
}

export function renderTemplate(text: string, ctx: TemplateContext): string {
  let out = '';
  const emitting: boolean[] = [];
  const on = () => emitting.every(Boolean);
  let trimNext = false;
  let last = 0;
  for (const m of text.matchAll(/\{\{(-?)\s*(.*?)\s*(-?)\}\}/gs)) {
    let literal = text.slice(last, m.index);
    if (trimNext) literal = literal.replace(/^\s+/, '');
    if (m[1]) literal = literal.replace(/\s+$/, '');
    if (on()) out += literal;
    const action = m[2] ?? '';
    if (action.startsWith('if ')) emitting.push(!empty(evaluate(action.slice(3), ctx)));
    else if (action === 'end') {
      if (!emitting.length) throw new Error('template: end without if');
      emitting.pop();
    } else if (action.startsWith('/*')) {
      /* a comment */
    } else if (on()) {
      const value = evaluate(action, ctx);
      out += print(value);
    }
    trimNext = Boolean(m[3]);
    last = (m.index ?? 0) + m[0].length;
  }
  if (emitting.length) throw new Error('template: if without end');
  return out + (trimNext ? text.slice(last).replace(/^\s+/, '') : text.slice(last));
}
