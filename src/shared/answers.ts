import { createRequire } from 'node:module';
import type { Ajv, ValidateFunction } from 'ajv';
import { isObject } from './json.js';

// Required on first use, not imported: a tpctl command that reads no answer (a backup) does not
// wait the 40 ms that loading Ajv takes.
const require = createRequire(import.meta.url);

/**
 * An answer of a Tenant Plane, read by a client of it (the recovery checklist, the bake, the edge
 * agent): checked against the route's own response schema before anything is taken from it, so
 * a body of another shape is an error that says what is wrong, not a crash further on. Properties
 * the schema does not name (a newer server's) are dropped, not refused.
 */
export class AnswerError extends Error {}

/**
 * Checks JSON values against schemas, each compiled once: what is wrong (Ajv's words, the value
 * named `name`), or undefined. `removeAdditional` drops what a schema closed with
 * `additionalProperties: false` does not name, instead of refusing it.
 */
export function schemaChecker(
  options: { removeAdditional?: boolean; allErrors?: boolean },
  name: string,
): (schema: object, value: unknown) => string | undefined {
  let ajv: Ajv | undefined;
  const compiled = new WeakMap<object, ValidateFunction>();
  return (schema, value) => {
    if (!ajv) {
      ajv = new (require('ajv') as typeof import('ajv')).Ajv({ strict: false, ...options });
      (require('ajv-formats') as (a: Ajv) => void)(ajv);
    }
    const validate = compiled.get(schema) ?? ajv.compile(schema);
    compiled.set(schema, validate);
    return validate(value) ? undefined : ajv.errorsText(validate.errors, { dataVar: name });
  };
}

const checkAnswer = schemaChecker({ removeAdditional: true }, 'body');

/** The message of an error answer (`{error, message}`), or '' when it has none: any JSON may come. */
export function errorMessage(body: unknown): string {
  return isObject(body) && typeof body.message === 'string' ? body.message : '';
}

/** The answer as `T`, or, for a caller that treats an unreadable answer as a result, why it cannot be read. */
export function readAnswer<T>(schema: object, body: unknown, what: string): T | AnswerError {
  const wrong = checkAnswer(schema, body);
  return wrong ? new AnswerError(`${what} answered a body of another shape: ${wrong}`) : (body as T);
}

/** `T` is the type api-shapes.ts derives from `schema` (`shaped<Me>(meAnswer, …)`). */
export function shaped<T>(schema: object, body: unknown, what: string): T {
  const answer = readAnswer<T>(schema, body, what);
  if (answer instanceof AnswerError) throw answer;
  return answer;
}
