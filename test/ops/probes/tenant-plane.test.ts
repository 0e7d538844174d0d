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
    return res.writeHead(404).end('{}');
  });
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
});
