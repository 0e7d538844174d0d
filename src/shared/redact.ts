/**
 * A connection URL's password and the URL without it. libpq takes it in the user info
 * (`postgresql://u:pw@h/db`) or as a parameter (`?password=pw`): both are found.
 */
export function splitPassword(url: URL): { password: string; rest: URL } {
  const rest = new URL(url);
  const password = rest.password ? decodeURIComponent(rest.password) : (rest.searchParams.get('password') ?? '');
  rest.password = '';
  rest.searchParams.delete('password');
  return { password, rest };
}

/** The password of a connection URL replaced by `***`, so the URL can be logged and shown. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    if (parsed.searchParams.has('password')) parsed.searchParams.set('password', '***');
    return parsed.toString();
  } catch {
    return url.replace(/\/\/([^:/@]*):[^@]*@/, '//$1:***@');
  }
}

/** Every occurrence of each secret in `text` replaced by `***`. Empty secrets are ignored. */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret) out = out.split(secret).join('***');
  }
  return out;
}

/** The secrets a connection URL carries, raw and percent-decoded, wherever they are written in it. */
export function urlSecrets(url: string | undefined): string[] {
  if (!url) return [];
  try {
    const parsed = new URL(url);
    const query = /[?&]password=([^&#]*)/.exec(parsed.search)?.[1];
    return [parsed.password, query ?? ''].filter(Boolean).flatMap((raw) => [raw, decodeURIComponent(raw.replace(/\+/g, ' '))]);
  } catch {
    return [];
  }
}

/** The prefixes of the secrets the Tenant Plane issues (`atp_…`): one table, for issuing them and for finding them in text. */
export const CREDENTIAL_PREFIXES = { apiToken: 'atp', session: 'ats', agent: 'aga', enrollment: 'aet', webhook: 'whs' } as const;

/** Credentials found by their form, whoever's they are. */
const CREDENTIAL_FORMS: [RegExp, string][] = [
  // A password in a URL's user info: scheme://user:pw@
  [/([a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)[^@\s]+@/gi, '$1***@'],
  // libpq's keyword form and a URL's parameter: password=pw, password='p w'
  [/\b(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&'"]+)/gi, '$1***'],
  // The Tenant Plane's own secrets, by prefix.
  [new RegExp(`\\b(${Object.values(CREDENTIAL_PREFIXES).join('|')})_[A-Za-z0-9_-]{16,}`, 'g'), '$1_***'],
];

/** Text with every credential that can be recognised by its form replaced by `***`. */
export function redactCredentials(text: string): string {
  return CREDENTIAL_FORMS.reduce((out, [re, by]) => out.replace(re, by), text);
}
