import swagger from '@fastify/swagger';
import type { FastifyInstance } from 'fastify';
import { errorShape } from '../shared/api-shapes.js';
import { accessFor, type Access } from './auth/access.js';
import { SESSION_COOKIE } from './auth/sessions.js';

/** Every failure answers `{error, message}` (errors.ts); a route's own schema may say otherwise (health's 503). */
export const ERROR_RESPONSES = { '4xx': errorShape, '5xx': errorShape } as const;

const SECURITY: Record<Access, Record<string, string[]>[]> = {
  public: [],
  viewer: [{ session: [] }, { token: [] }],
  operator: [{ session: [] }, { token: [] }],
  admin: [{ session: [] }, { token: [] }],
  agent: [{ agent: [] }],
};

/**
 * The OpenAPI 3 document of the API, made by @fastify/swagger from the routes' own schemas and
 * served at GET /api/openapi.json. Only /api routes are in it (the pages and /metrics are not
 * an API); each says who may call it, as GET /api does.
 */
export async function registerOpenApi(app: FastifyInstance, version: string): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'AtlasAI Tenant Plane API', version, description: 'Every route of GET /api, with what it takes and what it answers.' },
      components: {
        securitySchemes: {
          session: { type: 'apiKey', in: 'cookie', name: SESSION_COOKIE, description: 'the session POST /api/login starts' },
          token: { type: 'http', scheme: 'bearer', description: 'an API token (atp_…) from POST /api/tokens' },
          agent: { type: 'http', scheme: 'bearer', description: "an edge agent's credential (aga_…) from POST /api/agents/enroll" },
        },
      },
    },
    transform: ({ schema, url, route }) => {
      const access = accessFor(url, route.config?.access);
      return { url, schema: url.startsWith('/api') ? { ...schema, security: SECURITY[access] } : { ...schema, hide: true } };
    },
  });
  app.get(
    '/api/openapi.json',
    { config: { access: 'public' }, schema: { response: { 200: { type: 'object', additionalProperties: true, description: 'this document' } } } },
    async () => app.swagger(),
  );
}
