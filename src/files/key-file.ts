/**
 * Ed25519 key files. A secret key file is JSON, written with mode 0600 and refused when anyone but its
 * owner can read it (as ssh does), because a leaked station key lets anyone forge that station's history.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { writeFileDurable } from './durable.ts';
import { z } from 'zod';
import { isAcceptablePublicKey, keyIdOf, publicKeyFromSecret, type Signer } from '../crypto/ed25519.ts';
import { fromHex, toHex } from '../crypto/encoding.ts';

export const SECRET_KEY_FILE_TYPE = 'flashtrail-ed25519-secret-key-v1';

const SecretKeyFile = z.strictObject({
  type: z.literal(SECRET_KEY_FILE_TYPE),
  keyId: z.string().regex(/^[0-9a-f]{64}$/),
  publicKey: z.string().regex(/^[0-9a-f]{64}$/),
  secretKey: z.string().regex(/^[0-9a-f]{64}$/),
  comment: z.string().optional(),
});

export class KeyFileError extends Error {
  override readonly name = 'KeyFileError';
}

export function writeSecretKeyFile(path: string, signer: Signer, comment?: string): void {
  const body = {
    type: SECRET_KEY_FILE_TYPE,
    keyId: signer.keyId,
    publicKey: toHex(signer.publicKey),
    secretKey: toHex(signer.secretKey),
    ...(comment ? { comment } : {}),
  };
  writeKeyFileBody(path, body);
}

/**
 * Replaces a secret key file durably (a new file renamed over the old one: a crash leaves one or the other,
 * never half of each), mode 0600. Only for a key whose predecessor is kept elsewhere (ledger key rotation).
 */
export function replaceSecretKeyFile(path: string, signer: Signer, comment?: string): void {
  const body = { type: SECRET_KEY_FILE_TYPE, keyId: signer.keyId, publicKey: toHex(signer.publicKey), secretKey: toHex(signer.secretKey), ...(comment ? { comment } : {}) };
  writeFileDurable(path, JSON.stringify(body, null, 2) + '\n', { mode: 0o600 });
}

/** Writes a secret key file's JSON durably, mode 0600, never over an existing file. */
export function writeKeyFileBody(path: string, body: object): void {
  try {
    writeFileDurable(path, JSON.stringify(body, null, 2) + '\n', { mode: 0o600, overwrite: false });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new KeyFileError(`${path} already exists; refusing to overwrite a key`);
    throw error;
  }
}

/** A secret key file's JSON, refused when it is missing, readable by others, or not a `type` file. */
export function readKeyFileBody<T>(path: string, schema: z.ZodType<T>, type: string): T {
  if (!existsSync(path)) throw new KeyFileError(`key file ${path} does not exist`);
  const mode = statSync(path).mode & 0o777;
  if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
    throw new KeyFileError(`key file ${path} has mode ${mode.toString(8)}; it must be readable by its owner only (chmod 600 ${path})`);
  }
  // Outside the try: an unreadable file (EACCES) is reported as such, not as a malformed one.
  const text = readFileSync(path, 'utf8');
  try {
    return schema.parse(JSON.parse(text));
  } catch {
    throw new KeyFileError(`key file ${path} is empty or damaged (not a ${type} file): restore it from your backup`);
  }
}

export function readSecretKeyFile(path: string): Signer {
  const parsed = readKeyFileBody(path, SecretKeyFile, SECRET_KEY_FILE_TYPE);
  const secretKey = fromHex(parsed.secretKey);
  const publicKey = publicKeyFromSecret(secretKey);
  if (toHex(publicKey) !== parsed.publicKey || keyIdOf(publicKey) !== parsed.keyId) {
    throw new KeyFileError(`key file ${path} is inconsistent: its public key does not match its secret key`);
  }
  return { keyId: parsed.keyId, publicKey, secretKey };
}

/** Trusted public keys (administrators), as { keys: [{ keyId, publicKey, name? }] }. */
const PublicKeyList = z.strictObject({
  keys: z.array(z.strictObject({ keyId: z.string(), publicKey: z.string().regex(/^[0-9a-f]{64}$/), name: z.string().optional() })),
});

export function readPublicKeyList(path: string): Map<string, Uint8Array> {
  if (!existsSync(path)) throw new KeyFileError(`${path} does not exist`);
  const mode = statSync(path).mode & 0o777;
  if (process.platform !== 'win32' && (mode & 0o022) !== 0) {
    throw new KeyFileError(`${path} has mode ${mode.toString(8)}: anyone who can write it decides which administrators the ledger trusts (chmod 600 ${path})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    throw new KeyFileError(`${path} is empty or damaged (not JSON): restore it from your backup`);
  }
  const parsed = PublicKeyList.safeParse(json);
  if (!parsed.success) throw new KeyFileError(`${path}: expected { "keys": [{ "keyId", "publicKey" }] }`);
  const keys = new Map<string, Uint8Array>();
  for (const k of parsed.data.keys) {
    const pub = fromHex(k.publicKey);
    if (!isAcceptablePublicKey(pub)) throw new KeyFileError(`${path}: ${k.keyId} is not a valid Ed25519 public key`);
    if (keyIdOf(pub) !== k.keyId) throw new KeyFileError(`${path}: keyId ${k.keyId} is not the sha256 of its public key`);
    keys.set(k.keyId, pub);
  }
  return keys;
}

export function writePublicKeyList(path: string, keys: { keyId: string; publicKey: Uint8Array; name?: string }[]): void {
  const body = { keys: keys.map((k) => ({ keyId: k.keyId, publicKey: toHex(k.publicKey), ...(k.name ? { name: k.name } : {}) })) };
  writeFileDurable(path, JSON.stringify(body, null, 2) + '\n', { mode: 0o600 });
}
