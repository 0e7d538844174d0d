import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsPlugin from 'ajv-formats';
import { isObject } from './json.js';

/**
 * An answer of a Tenant Plane, read by a client of it (the recovery checklist, the bake, the edge
 * agent): checked against the route's own response schema before anything is taken from it, so
 * a body of another shape is an error that says what is wrong, not a crash further on. Properties
 * the schema does not name (a newer server's) are dropped, not refused.
 */
export class AnswerError extends Error {}

const ajv = new Ajv({ allErrors: false, strict: false, removeAdditional: true });
(addFormatsPlugin as unknown as (a: Ajv) => void)(ajv);
const compiled = new WeakMap<object, ValidateFunction>();

/** The message of an error answer (`{error, message}`), or '' when it has none: any JSON may come. */
export function errorMessage(body: unknown): string {
  return isObject(body) && typeof body.message === 'string' ? body.message : '';
}

/** `T` is the type api-shapes.ts derives from `schema` (`shaped<Me>(meAnswer, …)`). */
export function shaped<T>(schema: object, body: unknown, what: string): T {
  const validate = compiled.get(schema) ?? ajv.compile(schema);
  compiled.set(schema, validate);
  if (!validate(body)) throw new AnswerError(`${what} answered a body of another shape: ${ajv.errorsText(validate.errors, { dataVar: 'body' })}`);
  return body as T;
}
