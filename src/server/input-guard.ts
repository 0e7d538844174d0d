import type { FastifyInstance, FastifyRequest } from 'fastify';
import { badRequest } from './errors.js';

/** Deeper than this, no request of ours is nested; deeper bodies overflow the stack further on. */
const MAX_DEPTH = 64;

/** Half of a surrogate pair, alone: what JSON's `"\udfff"` decodes to. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why no field takes this text: a NUL (PostgreSQL text cannot hold one), or half a surrogate pair (no UTF-8 can). */
function unstorable(text: string): string | undefined {
  if (text.includes('\u0000')) return 'a NUL character';
  if (LONE_SURROGATE.test(text)) return 'half of a UTF-16 surrogate pair (\\ud800-\\udfff alone), which is no character';
  return undefined;
}

/**
 * What no route takes, refused for all of them in one place with a 400 (never a 500 from the
 * database or the stack further on): text no field can store (`unstorable`) in any string or
 * key, a body nested deeper than MAX_DEPTH, a number that overflows (JSON's 1e309 is Infinity),
 * and in the URL an integer beyond what is exact (2^53 - 1).
 */
function check(value: unknown, where: string, urlNumbers: boolean): void {
  const stack: { v: unknown; depth: number }[] = [{ v: value, depth: 0 }];
  const refuse = (text: string) => {
    const why = unstorable(text);
    if (why) throw badRequest(`${where} holds ${why}, which no field accepts`);
  };
  while (stack.length > 0) {
    const { v, depth } = stack.pop()!;
    if (typeof v === 'string') {
      refuse(v);
    } else if (typeof v === 'number') {
      if (!Number.isFinite(v)) throw badRequest(`${where} holds a number too large to be one`);
      if (urlNumbers && Number.isInteger(v) && !Number.isSafeInteger(v)) throw badRequest(`${where} holds an integer beyond ${Number.MAX_SAFE_INTEGER}`);
    } else if (v && typeof v === 'object') {
      if (depth >= MAX_DEPTH) throw badRequest(`${where} is nested deeper than ${MAX_DEPTH} levels`);
      for (const [key, item] of Object.entries(v)) {
        refuse(key);
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
