import type { FastifyInstance, FastifyRequest } from 'fastify';
import { badRequest } from './errors.js';

/** Deeper than this, no request of ours is nested; deeper bodies overflow the stack further on. */
const MAX_DEPTH = 64;

/**
 * What no route takes, refused for all of them in one place with a 400 (never a 500 from the
 * database or the stack further on): a NUL in any string or key (PostgreSQL text cannot hold
 * one), a body nested deeper than MAX_DEPTH, a number that overflows (JSON's 1e309 is Infinity),
 * and in the URL an integer beyond what is exact (2^53 - 1).
 */
function check(value: unknown, where: string, urlNumbers: boolean): void {
  const stack: { v: unknown; depth: number }[] = [{ v: value, depth: 0 }];
  while (stack.length > 0) {
    const { v, depth } = stack.pop()!;
    if (typeof v === 'string') {
      if (v.includes('\u0000')) throw badRequest(`${where} holds a NUL character, which no field accepts`);
    } else if (typeof v === 'number') {
      if (!Number.isFinite(v)) throw badRequest(`${where} holds a number too large to be one`);
      if (urlNumbers && Number.isInteger(v) && !Number.isSafeInteger(v)) throw badRequest(`${where} holds an integer beyond ${Number.MAX_SAFE_INTEGER}`);
    } else if (v && typeof v === 'object') {
      if (depth >= MAX_DEPTH) throw badRequest(`${where} is nested deeper than ${MAX_DEPTH} levels`);
      for (const [key, item] of Object.entries(v)) {
        if (key.includes('\u0000')) throw badRequest(`${where} holds a NUL character, which no field accepts`);
        stack.push({ v: item, depth: depth + 1 });
      }
    }
  }
}

export function registerInputGuard(app: FastifyInstance): void {
  // The body before it is validated (deep nesting would overflow the validator), the URL's
  // parts once they are coerced to the types the route declares.
  app.addHook('preValidation', async (request: FastifyRequest) => {
    check(request.body, 'the body', false);
  });
  app.addHook('preHandler', async (request: FastifyRequest) => {
    check(request.params, 'the path', true);
    check(request.query, 'the query string', true);
  });
}
