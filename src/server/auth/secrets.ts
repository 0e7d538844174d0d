import { createHash, randomBytes } from 'node:crypto';

/** A random bearer secret with a readable prefix (`atp_…` for API tokens). 256 bits of entropy. */
export function newSecret(prefix: string): string {
  return `${prefix}_${randomBytes(32).toString('base64url')}`;
}

/**
 * What the database keeps of a secret. A plain SHA-256 suffices: the secrets are random and
 * long, so there is nothing to guess (a slow hash is for human-chosen passwords).
 */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}
