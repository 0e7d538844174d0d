import { request } from 'node:http';
/** A logged-in user of a running Tenant Plane, over real HTTP. */
export class ApiClient {
  /** The session cookie, for a request the client does not make itself (a text answer such as /metrics). */
  cookie = '';

  constructor(public base: string) {}

  static async login(base: string, email: string, password: string): Promise<ApiClient> {
    const client = new ApiClient(base);
    const res = await fetch(`${base}/api/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password }),
    });
    if (res.status !== 200) throw new Error(`login failed: ${res.status} ${await res.text()}`);
    client.cookie = (res.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    return client;
  }

  async call<T = Record<string, unknown>>(method: string, path: string, given?: unknown): Promise<{ status: number; body: T; text: string }> {
    // The session cookie signs in unsafe requests only with a JSON body.
    const body = given ?? (method === 'GET' ? undefined : {});
    const res = await fetch(`${this.base}${path}`, {
      method,
      headers: { cookie: this.cookie, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T, text };
  }

  get = <T = Record<string, unknown>>(path: string) => this.call<T>('GET', path);
  post = <T = Record<string, unknown>>(path: string, body: unknown = {}) => this.call<T>('POST', path, body);
}

/** Polls until `probe` returns something, or fails after `seconds`. */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined>, seconds = 20): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${seconds} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A login sent from another loopback address (127.0.0.2 is this host too): another client to the server. */
export function loginFrom(localAddress: string, base: string, body: { email: string; password: string }): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}/api/login`, { method: 'POST', localAddress, headers: { 'content-type': 'application/json' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}
