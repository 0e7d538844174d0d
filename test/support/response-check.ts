import type { FastifyInstance } from 'fastify';
import { schemaChecker } from '../../src/shared/answers.js';

/**
 * Every answer of the app under test is checked against its route's response schema, as the
 * handler made it (before Fastify's serializer would drop what the schema does not describe): a
 * body the schema does not describe fails the request with a 500, and is kept in `violations`.
 */
const checkBody = schemaChecker({ allErrors: true }, 'data');

export const violations: string[] = [];

export function checkResponses(app: FastifyInstance): void {
  app.addHook('preSerialization', async (request, reply, payload) => {
    const schemas = request.routeOptions.schema?.response as Record<string, object> | undefined;
    if (!schemas || !request.routeOptions.url?.startsWith('/api')) return payload;
    const status = String(reply.statusCode);
    const where = `${request.method} ${request.routeOptions.url} ${status}`;
    const schema = schemas[status] ?? schemas[`${status[0]}xx`];
    let problem: string | undefined;
    if (!schema) problem = `${where}: the route's schema names no such answer`;
    else {
      // As it would go over the wire without a schema (dates as ISO strings).
      const body: unknown = payload === undefined ? null : JSON.parse(JSON.stringify(payload));
      const wrong = checkBody(schema, body);
      if (wrong) problem = `${where}: ${wrong} in ${JSON.stringify(body).slice(0, 400)}`;
    }
    if (problem) {
      violations.push(problem);
      throw new Error(problem);
    }
    return payload;
  });
}
