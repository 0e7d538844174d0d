import { createPublicKey, sign, verify, type KeyObject } from 'node:crypto';

/**
 * A license is `atlas-license-v1.<payload>.<signature>`: base64url JSON claims and an Ed25519
 * signature over `atlas-license-v1.<payload>`, made with AtlasAI's private key. The product
 * ships only the public half (below); the private half is held by AtlasAI and never in this tree.
 */
const PREFIX = 'atlas-license-v1';

export const ATLAS_LICENSE_PUBLIC_KEY = createPublicKey(`-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAJ82nw8JGgOn5JKUw+NyQ24xQ82Hk0P/S4Cnxt3CkowM=
-----END PUBLIC KEY-----`);

export interface LicenseClaims {
  licensee: string;
  tenant: string;
  seats: number;
  issuedAt: string;
  expiresAt: string;
}

export type LicenseReport =
  { status: 'missing' | 'invalid'; valid: false; message: string } | ({ status: 'valid' | 'expired'; valid: boolean; message: string } & LicenseClaims);

export function signLicense(claims: LicenseClaims, privateKey: KeyObject): string {
  const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
  const signature = sign(null, Buffer.from(`${PREFIX}.${payload}`), privateKey).toString('base64url');
  return `${PREFIX}.${payload}.${signature}`;
}

function parseClaims(payload: string): LicenseClaims | undefined {
  try {
    const c = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Partial<LicenseClaims>;
    const ok =
      typeof c.licensee === 'string' &&
      typeof c.tenant === 'string' &&
      Number.isInteger(c.seats) &&
      typeof c.issuedAt === 'string' &&
      typeof c.expiresAt === 'string' &&
      !Number.isNaN(Date.parse(c.expiresAt));
    return ok ? (c as LicenseClaims) : undefined;
  } catch {
    return undefined;
  }
}

export function checkLicense(document: string | undefined, publicKey: KeyObject, now = new Date()): LicenseReport {
  if (!document) {
    return { status: 'missing', valid: false, message: 'no license is installed; install one under Settings, or with PUT /api/admin/license' };
  }
  const [prefix, payload, signature, ...rest] = document.trim().split('.');
  if (prefix !== PREFIX || !payload || !signature || rest.length > 0) {
    return { status: 'invalid', valid: false, message: `not an AtlasAI license (expected ${PREFIX}.<claims>.<signature>)` };
  }
  const signed = verify(null, Buffer.from(`${PREFIX}.${payload}`), publicKey, Buffer.from(signature, 'base64url'));
  if (!signed) {
    return { status: 'invalid', valid: false, message: 'the license signature does not match the AtlasAI public key (altered or forged)' };
  }
  const claims = parseClaims(payload);
  if (!claims) return { status: 'invalid', valid: false, message: 'the license is signed but its claims are malformed' };
  const expired = Date.parse(claims.expiresAt) <= now.getTime();
  return expired
    ? { status: 'expired', valid: false, message: `the license expired at ${claims.expiresAt}`, ...claims }
    : { status: 'valid', valid: true, message: `licensed to ${claims.licensee} until ${claims.expiresAt}`, ...claims };
}
