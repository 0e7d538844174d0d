import Fastify, { type FastifyError } from 'fastify';
import { describe, expect, it } from 'vitest';
import { pageFailed } from '../../src/server/pages/index.js';

/** A page's failure is a page in the site's layout, and shows nothing of the error but its request id. */
describe('a page that fails', () => {
  it('is a 500 page naming its request id; a client error is said as it is', async () => {
    const app = Fastify({ logger: false });
    const site = { version: '1.3.0' };
    app.setErrorHandler<FastifyError>((error, request, reply) => pageFailed(site, error, request, reply));
    app.get('/broken', async () => {
      throw new Error('connect ECONNREFUSED postgresql://atlas:s3cret@db:5432');
    });
    app.get('/refused', async () => {
      throw Object.assign(new Error('the form is too large'), { statusCode: 413 });
    });
    const broken = await app.inject({ url: '/broken' });
    expect(broken.statusCode).toBe(500);
    expect(broken.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(broken.body).toMatch(/<title>Something went wrong · AtlasAI Tenant Plane<\/title>/);
    expect(broken.body).toMatch(/This page failed \(request req-\w+\); the server log has the details\./);
    expect(broken.body).toContain('<span id="site-version">1.3.0</span>');
    expect(broken.body).not.toContain('s3cret');
    const refused = await app.inject({ url: '/refused' });
    expect(refused.statusCode).toBe(413);
    expect(refused.body).toContain('the form is too large');
    await app.close();
  });
});
