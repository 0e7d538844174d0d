import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { closeSync, fstatSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../../shared/files.js';
import { Refused } from '../core/errors.js';
import type { BackupManifest } from './manifest.js';

/** The outcome of the signature check, as verify reports each check. */
interface SignatureCheck {
  name: 'signature';
  ok: boolean;
  detail: string;
  /** Passed only because the operator said to trust an unsigned backup. */
  trusted?: true;
}

/**
 * Backups are signed with HMAC-SHA256 over their manifest (which holds the file's SHA-256).
 * HMAC, not Ed25519: tpctl both signs and checks, on the host that holds the key, so a
 * public key would buy nothing, while one symmetric key is simpler to keep, rotate and back up.
 * The key must not live beside the backups: whoever can write there must not be able to sign.
 */
export interface BackupKeys {
  /** The keyring; default: backup-keys in the data directory, created on first use (mode 0600). */
  keyFile: string;
  /** Accept a backup that is unsigned or signed by a key not in the ring (logged in its checks). */
  trustUnsigned: boolean;
}

/** The keys of a database target: its own, or the keyring in its data directory, trusting nothing unsigned. */
export const backupKeys = (target: { dataDir: string; keys?: BackupKeys | undefined }): BackupKeys =>
  target.keys ?? { keyFile: path.join(target.dataDir, 'backup-keys'), trustUnsigned: false };

interface Key {
  id: string;
  secret: Buffer;
}

const KEY_LINE = /^([0-9a-f]{16}) ([A-Za-z0-9_-]{43})$/;
const keyId = (secret: Buffer) => createHash('sha256').update(secret).digest('hex').slice(0, 16);

const problem = (file: string, why: string) => new Refused(`the backup keyring ${file} ${why}`, [{ do: 'set', setting: 'backup-key-file' }]);

/** Opens the keyring for reading; undefined when there is none. */
function openKeyring(file: string): number | undefined {
  try {
    return openSync(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw problem(file, `cannot be read (${(err as Error).message})`);
  }
}

/**
 * The keyring, newest key first: one `<id> <key>` line per key; `#` starts a comment. It may be
 * a link (a Kubernetes Secret's file is one); what it reaches is judged: a regular file that
 * nobody but its owner and group may read or its owner write, and, when tpctl runs as root,
 * root's own, so that whoever owns the data directory cannot swap in a keyring of theirs.
 */
function readKeyring(file: string): Key[] | undefined {
  const fd = openKeyring(file);
  if (fd === undefined) return undefined;
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw problem(file, 'is not a regular file');
    if (stat.mode & 0o027) throw problem(file, `may be read or written by others (mode ${(stat.mode & 0o777).toString(8)}): chmod 600 ${file}`);
    if (process.getuid?.() === 0 && stat.uid !== 0) throw problem(file, `belongs to uid ${stat.uid}, not root, who runs tpctl: chown root ${file}`);
    const keys = readFileSync(fd, 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'))
      .map((line) => {
        const m = KEY_LINE.exec(line);
        const secret = m && Buffer.from(m[2]!, 'base64url');
        if (!m || !secret || keyId(secret) !== m[1]) throw problem(file, 'holds a line that is not a key (expected "<id> <key>", as tpctl writes them)');
        return { id: m[1], secret };
      });
    if (!keys.length) throw problem(file, 'holds no key');
    return keys;
  } finally {
    closeSync(fd);
  }
}

function newKey(): Key {
  const secret = randomBytes(32);
  return { id: keyId(secret), secret };
}

function writeKeyring(file: string, keys: Key[]): void {
  const lines = keys.map((k) => `${k.id} ${k.secret.toString('base64url')}`);
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  writeFileAtomic(
    file,
    `# AtlasAI Tenant Plane backup signing keys, newest first: the first signs, all verify.\n# Keep a copy apart from the backups; never beside them.\n${lines.join('\n')}\n`,
    0o600,
  );
}

/** The key that signs: the ring's first, made on first use. */
function signingKey(file: string): Key {
  const ring = readKeyring(file);
  if (ring) return ring[0]!;
  const key = newKey();
  try {
    writeKeyring(file, [key]);
  } catch (err) {
    throw problem(file, `is missing and cannot be made (${(err as Error).message}): make one with tpctl backup rotate-key, or name it`);
  }
  return key;
}

/** A new signing key at the head of the ring; the older keys stay, to check older backups. */
export function rotateKey(keys: BackupKeys): { keyId: string; kept: number } {
  const ring = readKeyring(keys.keyFile) ?? [];
  const key = newKey();
  writeKeyring(keys.keyFile, [key, ...ring]);
  return { keyId: key.id, kept: ring.length };
}

/** What is signed: every field of the manifest but the signature and the time of the last check, in a fixed order. */
function signedText(manifest: BackupManifest): string {
  const { signature: _signature, verifiedAt: _verifiedAt, ...signed } = manifest;
  return JSON.stringify(signed, Object.keys(signed).sort());
}

const hmac = (key: Key, manifest: BackupManifest) => createHmac('sha256', key.secret).update(signedText(manifest)).digest('hex');

export function sign(manifest: BackupManifest, keys: BackupKeys): BackupManifest {
  const key = signingKey(keys.keyFile);
  return { ...manifest, signature: { keyId: key.id, hmacSha256: hmac(key, manifest) } };
}

/** Whether the manifest is signed by a key of the ring; with trustUnsigned, said and accepted. */
export function checkSignature(manifest: BackupManifest, keys: BackupKeys): SignatureCheck {
  const check = (ok: boolean, detail: string): SignatureCheck => ({ name: 'signature', ok, detail });
  const untrusted = (why: string): SignatureCheck =>
    keys.trustUnsigned
      ? { ...check(true, `${why}; accepted because --trust-unsigned (ATLAS_TRUST_UNSIGNED=1) was given`), trusted: true }
      : check(
          false,
          `${why}: it may have been made elsewhere or altered, and is refused before any of it runs. If you made it and checked it, sign it with tpctl backup sign FILE, or accept it once with --trust-unsigned`,
        );
  const sig = manifest.signature;
  if (!sig) return untrusted('unsigned');
  const ring = readKeyring(keys.keyFile) ?? [];
  const key = ring.find((k) => k.id === sig.keyId);
  if (!key) return untrusted(`signed by key ${sig.keyId}, which is not in the keyring ${keys.keyFile}`);
  const expected = Buffer.from(hmac(key, manifest), 'hex');
  const given = Buffer.from(sig.hmacSha256, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return untrusted(`the signature does not match the manifest (key ${key.id})`);
  return check(true, `signed by key ${key.id}`);
}
