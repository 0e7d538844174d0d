import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/database.js';
import { eventually } from '../support/api-client.js';
import { addUser, json, login, startTestApp } from '../support/app.js';
import { backends } from '../support/backends.js';

/**
 * Every route GET /api lists, sent generated input as anonymous, viewer and admin: strings with
 * NUL and unpaired surrogates, huge and non-finite numbers, deep nesting, wrong types, broken
 * JSON. Every answer must be 2xx or 4xx with the JSON error shape, and the server must keep
 * answering. Bounded: RUNS cases per route and identity; the seed is in the test's name
 * (ATLAS_FUZZ_SEED replays a run).
 */
const RUNS = 12;
const SEED = Number(process.env.ATLAS_FUZZ_SEED ?? Date.now() % 2 ** 31);

const FIELDS = [
  'email',
  'password',
  'name',
  'title',
  'description',
  'severity',
  'status',
  'url',
  'events',
  'enabled',
  'value',
  'role',
  'disabled',
  'runbook',
  'label',
  'labels',
  'agentId',
  'assigneeId',
  'document',
  'note',
  'text',
  'token',
  'ttlSeconds',
  'waitSeconds',
  'exitCode',
  'output',
  'limit',
  'before',
  'q',
  'incidentId',
  'key',
];

const nastyText = fc.constantFrom(
  '\u0000',
  'a\u0000b',
  '\ud800',
  'x\udfffy',
  '1e309',
  '-1e309',
  '1e20',
  '-1',
  '0',
  '9'.repeat(400),
  "'; DROP TABLE users; --",
  '../../etc/passwd',
  '%00',
  '__proto__',
  'constructor',
  '<script>alert(1)</script>',
  ' ',
  '',
  '\r\nX-Injected: 1',
);
const text = fc.oneof(
  { arbitrary: nastyText, weight: 3 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 40 }), weight: 1 },
  { arbitrary: fc.string({ maxLength: 3000 }), weight: 1 },
);
const number = fc.oneof(fc.integer(), fc.double(), fc.constantFrom(1e308, -0, Number.MAX_SAFE_INTEGER + 2, 2 ** 63));
const scalar = fc.oneof(text, number, fc.boolean(), fc.constant(null));
const value = fc.letrec((tie) => ({
  any: fc.oneof(
    { depthSize: 'small' },
    scalar,
    fc.array(tie('any'), { maxLength: 4 }),
    fc.dictionary(fc.oneof(fc.constantFrom(...FIELDS), text), tie('any'), { maxKeys: 5 }),
  ),
})).any;
type Schema = {
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  enum?: unknown[];
  format?: string;
  minimum?: number;
  maximum?: number;
};

/**
 * Input shaped as a route's own schema says (so that it gets past validation to the code
 * behind), with hostile values mixed in at every leaf.
 */
function shapedAs(schema: Schema | undefined, depth = 0): fc.Arbitrary<unknown> {
  if (!schema || depth > 4) return value;
  const types = [schema.type ?? 'object'].flat();
  const options: fc.Arbitrary<unknown>[] = [value];
  if (schema.enum) options.push(fc.constantFrom(...schema.enum));
  for (const type of types) {
    if (type === 'object' && schema.properties) {
      const props = Object.fromEntries(Object.entries(schema.properties).map(([k, v]) => [k, shapedAs(v, depth + 1)]));
      options.push(fc.record(props, { requiredKeys: schema.required ?? [] }));
    } else if (type === 'array') options.push(fc.array(shapedAs(schema.items, depth + 1), { maxLength: 4 }));
    else if (type === 'string') options.push(schema.format === 'uuid' ? fc.uuid() : text, fc.constantFrom('a@example.com', 'low', 'open', 'x'));
    else if (type === 'integer' || type === 'number')
      options.push(number, fc.integer({ min: schema.minimum ?? -10, max: Math.min(schema.maximum ?? 1000, 1000) }));
    else if (type === 'boolean') options.push(fc.boolean());
  }
  return fc.oneof(...options);
}

/** A body as it goes on the wire: JSON shaped as the route takes it, generated values, or text no JSON encoder writes. */
const body = (schema: Schema | undefined) =>
  fc.oneof(
    { arbitrary: shapedAs(schema).map((v) => JSON.stringify(v) ?? 'null'), weight: 4 },
    { arbitrary: fc.dictionary(fc.constantFrom(...FIELDS), value, { maxKeys: 6 }).map((o) => JSON.stringify(o)), weight: 1 },
    {
      arbitrary: fc.constantFrom('{"limit":1e309}', '{"value":-1e999}', '{bad json', '', 'null', '[]', '"\\u0000"', '{"__proto__":{"admin":true}}'),
      weight: 1,
    },
    { arbitrary: fc.integer({ min: 1, max: 5000 }).map((n) => `{"value":${'['.repeat(n)}${']'.repeat(n)}}`), weight: 1 },
  );

/** Percent-encodes any string, unpaired surrogates included (as UTF-8 of U+FFFD, as a browser would). */
const encode = (s: string) => [...Buffer.from(s, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
const asText = (v: unknown): string => (typeof v === 'string' ? v : (JSON.stringify(v) ?? ''));

/** A query string: the route's own parameters with generated values (or stray ones), as text. */
const query = (schema: Schema | undefined) =>
  fc.dictionary(fc.constantFrom(...Object.keys(schema?.properties ?? {}), 'x'), fc.oneof(text, number.map(asText), shapedAs(schema).map(asText)), {
    maxKeys: 4,
  });

describe.each(backends)('fuzzing every route on $name', (backend) => {
  let db: Database;
  let app: FastifyInstance;
  const who: Record<string, string | undefined> = { anonymous: undefined };
  let routes: { method: string; url: string; body?: Schema; query?: Schema }[] = [];

  beforeAll(async () => {
    db = await backend.open();
    ({ app } = await startTestApp(db, { login: { maxPerAccount: 1_000_000, maxPerAddress: 1_000_000 } }));
    await addUser(db, 'admin@example.com', 'admin');
    await addUser(db, 'viewer@example.com', 'viewer');
    who.admin = await login(app, 'admin@example.com');
    who.viewer = await login(app, 'viewer@example.com');
    routes = (json(await app.inject({ url: '/api', headers: { cookie: who.admin } })).routes as typeof routes)
      // Ending the session would leave the rest of the run anonymous.
      .filter((r) => r.url !== '/api/logout');
  });
  afterAll(async () => {
    await app?.close();
    await db?.close();
  });

  it(`answers 2xx or 4xx with the JSON error shape, never a 5xx, and keeps answering (seed ${SEED}: ATLAS_FUZZ_SEED=${SEED} replays it)`, async () => {
    expect(routes.length).toBeGreaterThan(30);
    let requests = 0;
    for (const route of routes) {
      for (const [identity, cookie] of Object.entries(who)) {
        await fc.assert(
          fc.asyncProperty(
            fc.array(fc.oneof(text, fc.uuid(), fc.integer({ min: -1, max: 1e6 }).map(String)), { minLength: 2, maxLength: 2 }),
            query(route.query),
            body(route.body),
            async ([p1, p2], q, payload) => {
              const path = route.url.replace(/:\w+/, encode(p1!)).replace(/:\w+/, encode(p2!));
              const qs = Object.entries(q)
                .map(([k, v]) => `${k}=${encode(v)}`)
                .join('&');
              const takesBody = route.method !== 'GET' && route.method !== 'DELETE';
              const res = await app.inject({
                method: route.method as 'POST',
                url: qs ? `${path}?${qs}` : path,
                headers: { 'content-type': 'application/json', ...(cookie ? { cookie } : {}) },
                ...(takesBody ? { payload } : {}),
              });
              requests++;
              const where = `${identity} ${route.method} ${path}`;
              // Health's 503 is its answer, not a failure: its last database check is late when
              // the embedded database, in this process, keeps it busy on a loaded machine.
              if (route.url === '/api/health' && res.statusCode === 503) {
                expect(json(res), where).toMatchObject({ status: 'error', checks: { database: { status: expect.any(String) as string } } });
                return;
              }
              expect(res.statusCode, where).toBeLessThan(500);
              if (res.statusCode >= 400) expect(json(res), where).toEqual({ error: expect.any(String) as string, message: expect.any(String) as string });
            },
          ),
          { numRuns: RUNS, seed: SEED },
        );
      }
    }
    expect(requests).toBe(routes.length * 3 * RUNS);
    await eventually('health after the run', async () => ((await app.inject({ url: '/api/health' })).statusCode === 200 ? true : undefined), 10);
  }, 240_000);
});
