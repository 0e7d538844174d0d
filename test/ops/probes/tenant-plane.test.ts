import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tenantPlaneOverHttp } from '../../../src/ops/probes/tenant-plane.js';

/** tpctl's view of a Tenant Plane over HTTP, against one whose answers have another shape: the bake reads them as unreadable, never crashes. */
describe('the Tenant Plane over HTTP, answering bodies of another shape', () => {
  const user = {
    id: '0b7a4c52-8d1e-4c3a-9f0e-2d6b1a7c9e44',
    email: 'ops@example.com',
    name: '',
    role: 'admin',
    disabled: false,
    createdAt: '2026-12-01T00:00:00.000Z',
  };
  const server = http.createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    if (req.url === '/api/login') return res.setHeader('set-cookie', 'atlas_session=s; Path=/').end(JSON.stringify({ user }));
    if (req.url === '/api/admin/webhooks') return res.end(JSON.stringify({ webhooks: [{ id: 1 }] }));
    if (req.url?.endsWith('/test')) return res.end(JSON.stringify({ deliveryId: 'not a number' }));
    // A version on its way out: the first PUTs answer 503 and close (/api/admin/closing: every one).
    if (req.method === 'PUT') {
      puts.push(req.url ?? '');
      const closing = req.url === '/api/admin/closing' || puts.filter((u) => u === req.url).length < 3;
      return closing ? res.writeHead(503, { connection: 'close' }).end('{"message":"Service Unavailable"}') : res.writeHead(204).end();
    }
    return res.writeHead(404).end('{}');
  });
  const puts: string[] = [];
  let origin = '';
  beforeAll(
    () => new Promise<void>((r) => server.listen(0, '127.0.0.1', () => ((origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`), r()))),
  );
  afterAll(() => server.close());

  it('its webhooks cannot be read, and a test delivery fails with what is wrong', async () => {
    const tp = tenantPlaneOverHttp(`${origin}/api/health`, { auth: { email: user.email, password: 'pw' }, agentsWithinMs: 0 });
    expect(await tp.webhooks()).toBeUndefined();
    expect(await tp.testWebhook('w1')).toEqual({
      ok: false,
      detail: expect.stringMatching(/^POST \/api\/admin\/webhooks\/w1\/test answered a body of another shape: body(\/\w+)? must/) as string,
    });
  });

  it('tells it what tpctl did, sending again what a version on its way out answered 503, twice at most', async () => {
    const tp = tenantPlaneOverHttp(`${origin}/api/health`, { auth: { email: user.email, password: 'pw' }, agentsWithinMs: 0 });
    expect(await tp.tell('/api/admin/operations', { operations: [] })).toBeUndefined();
    expect(puts.filter((u) => u === '/api/admin/operations')).toHaveLength(3);
    expect(await tp.tell('/api/admin/closing', {})).toBe('PUT /api/admin/closing: HTTP 503: Service Unavailable');
    expect(puts.filter((u) => u === '/api/admin/closing')).toHaveLength(3);
    expect(await tenantPlaneOverHttp(`${origin}/api/health`, undefined).tell('/api/admin/operations', {})).toBe('no verification identity');
  });
});
