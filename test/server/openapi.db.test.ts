import { Validator } from '@seriousme/openapi-schema-validator';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import type { Database } from '../../src/db/database.js';
import { backends } from '../support/backends.js';
import { addUser, login, startTestApp } from '../support/app.js';
import { checkResponses, violations } from '../support/response-check.js';

interface Operation {
  security?: Record<string, string[]>[];
  responses: Record<string, { content?: Record<string, { schema: unknown }> }>;
}

describe('the published API: GET /api/openapi.json', () => {
  let db: Database;
  let app: FastifyInstance;
  beforeAll(async () => {
    db = await backends[0]!.open();
    ({ app } = await startTestApp(db));
  });
  afterAll(async () => {
    await app.close();
    await db.close();
  });

  it('is a valid OpenAPI 3 document, to anyone', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/openapi.json' });
    expect(res.statusCode).toBe(200);
    const validator = new Validator();
    const result = await validator.validate(res.json<Record<string, unknown>>());
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.0');
  });

  it('answers no object whose fields the serializer would drop: each one declares its properties, or what it keeps beside them', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/api/openapi.json' })).json<{ paths: Record<string, Record<string, Operation>> }>();
    // An object schema with neither is serialized as {} whatever it holds (an event's detail was).
    const openEnded: string[] = [];
    const walk = (schema: unknown, where: string): void => {
      if (Array.isArray(schema)) return schema.forEach((s, i) => walk(s, `${where}[${i}]`));
      if (!schema || typeof schema !== 'object') return;
      const s = schema as Record<string, unknown>;
      const isObject = s.type === 'object' || (Array.isArray(s.type) && s.type.includes('object'));
      if (isObject && !('properties' in s) && !('additionalProperties' in s)) openEnded.push(where);
      for (const [key, value] of Object.entries(s)) walk(value, `${where}.${key}`);
    };
    for (const [url, ops] of Object.entries(doc.paths))
      for (const [method, op] of Object.entries(ops))
        for (const [code, answer] of Object.entries(op.responses)) walk(answer.content?.['application/json']?.schema, `${method.toUpperCase()} ${url} ${code}`);
    expect(openEnded).toEqual([]);
    // The check finds what it looks for.
    walk({ type: 'object' }, 'a bare object');
    expect(openEnded).toEqual(['a bare object']);
  });

  it('lists every route of GET /api with what it answers, errors included, and who may call it', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/api/openapi.json' })).json<{ paths: Record<string, Record<string, Operation>> }>();
    await addUser(db, 'openapi-admin@example.com', 'admin');
    const cookie = await login(app, 'openapi-admin@example.com');
    const index = (await app.inject({ method: 'GET', url: '/api', headers: { cookie } })).json<{ routes: { method: string; url: string }[] }>();
    const documented = Object.entries(doc.paths).flatMap(([url, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${url.replace(/\{(\w+)\}/g, ':$1')}`));
    expect(documented.sort()).toEqual(index.routes.map((r) => `${r.method} ${r.url}`).sort());

    for (const [url, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const where = `${method.toUpperCase()} ${url}`;
        const answers = Object.keys(op.responses);
        expect({ where, answersAnError: answers.includes('4XX') && answers.includes('5XX') }).toEqual({ where, answersAnError: true });
        const success = answers.filter((code) => /^2\d\d$/.test(code));
        expect({ where, success: success.length > 0 }).toEqual({ where, success: true });
        for (const code of success.filter((c) => c !== '204')) {
          expect({ where, code, described: Boolean(op.responses[code]?.content?.['application/json']?.schema) }).toEqual({ where, code, described: true });
        }
      }
    }
    expect(doc.paths['/api/health']?.get?.security).toEqual([]);
    expect(doc.paths['/api/agent/checkin']?.post?.security).toEqual([{ agent: [] }]);
    expect(doc.paths['/api/admin/users']?.get?.security).toEqual([{ session: [] }, { token: [] }]);
    expect(Object.keys(doc.paths['/api/incidents/{id}'] ?? {})).toEqual(['get', 'patch']);
  });
});

describe('the response check of the tests', () => {
  it('fails a request whose body its schema does not describe, and passes one it does', async () => {
    const app = Fastify();
    const schema = { response: { 200: { type: 'object', additionalProperties: false, required: ['id'], properties: { id: { type: 'integer' } } } } };
    app.get('/api/right', { schema }, async () => ({ id: 1 }));
    app.get('/api/extra', { schema }, async () => ({ id: 1, secret: 'kept from the wire by the serializer' }));
    app.get('/api/wrong-type', { schema }, async () => ({ id: 'one' }));
    checkResponses(app);
    const before = violations.length;
    expect((await app.inject({ url: '/api/right' })).json()).toEqual({ id: 1 });
    expect((await app.inject({ url: '/api/extra' })).statusCode).toBe(500);
    expect((await app.inject({ url: '/api/wrong-type' })).statusCode).toBe(500);
    expect(violations.splice(before)).toEqual([
      expect.stringMatching(/^GET \/api\/extra 200: data must NOT have additional properties/),
      expect.stringMatching(/^GET \/api\/wrong-type 200: data\/id must be integer/),
    ]);
    await app.close();
  });
});
