/** HTML that is already safe: the output of `html` and of trusted helpers. */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** A value as text: strings and numbers as they are, anything else as JSON. */
export function text(value: unknown): string {
  if (value === undefined || value === null) return '';
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? String(value) : JSON.stringify(value);
}

export function escape(value: unknown): string {
  return text(value).replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

function render(value: unknown): string {
  if (value instanceof Html) return value.value;
  if (Array.isArray(value)) return value.map(render).join('');
  if (value === undefined || value === null || value === false) return '';
  return escape(value);
}

/** A template whose interpolations are escaped (unless they are Html themselves). */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  return new Html(strings.reduce((out, s, i) => out + s + (i < values.length ? render(values[i]) : ''), ''));
}

/** "12 s ago" with the exact UTC time on hover (and for screen readers, in the datetime). */
export function ago(iso: unknown, now = Date.now()): Html {
  if (typeof iso !== 'string' && !(iso instanceof Date)) return html`never`;
  const at = new Date(iso);
  const s = Math.max(0, Math.round((now - at.getTime()) / 1000));
  const text =
    s < 60 ? `${s} s ago` : s < 3600 ? `${Math.floor(s / 60)} min ago` : s < 86_400 ? `${Math.floor(s / 3600)} h ago` : `${Math.floor(s / 86_400)} d ago`;
  return html`<time datetime="${at.toISOString()}" title="${at.toISOString()}">${text}</time>`;
}
