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
