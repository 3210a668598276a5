/**
 * Strict Ed25519 verification on node's OpenSSL, with the same verdicts as verifyStrictPortable: the rule
 * in src/crypto/ed25519.ts (test/crypto.unit.test.ts holds the two to it). OpenSSL is wrapped with the
 * checks it does not make itself, or not in every release: the public key must be a canonical point not of
 * small order (checked once per key with noble, then cached), S must be below the group order L, and R must
 * not be of small order (OpenSSL 3.0 accepts the identity as R; 3.5 refuses it). OpenSSL verifies
 * cofactorless and compares the recomputed R byte for byte, so a non-canonical or otherwise mangled R can
 * never match.
 */
import { createPrivateKey, createPublicKey, sign as nodeSign, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { hasSmallOrderR, isAcceptablePublicKey, scalarBelowL } from '../crypto/ed25519.ts';
import { toHex } from '../crypto/encoding.ts';

const keyCache = new Map<string, KeyObject | null>();
/**
 * The same by the key's array, for callers that hand one array for every signature of a key (an export verifier's
 * key registrations): no hex of the key per signature. With a copy of the bytes it was made for, as the array's
 * bytes may have changed since.
 */
const keyOfArray = new WeakMap<Uint8Array, { readonly bytes: Uint8Array; readonly key: KeyObject | null }>();

function nativeKey(publicKey: Uint8Array): KeyObject | null {
  const known = keyOfArray.get(publicKey);
  if (known && sameBytes(known.bytes, publicKey)) return known.key;
  const key = nativeKeyOfBytes(publicKey);
  keyOfArray.set(publicKey, { bytes: new Uint8Array(publicKey), key }); // a copy (a Buffer's slice would be a view)
  return key;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function nativeKeyOfBytes(publicKey: Uint8Array): KeyObject | null {
  const hex = toHex(publicKey);
  let key = keyCache.get(hex);
  if (key === undefined) {
    key = isAcceptablePublicKey(publicKey)
      ? createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKey).toString('base64url') }, format: 'jwk' })
      : null;
    if (keyCache.size > 10_000) keyCache.clear();
    keyCache.set(hex, key);
  }
  return key;
}

export function verifyStrict(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  if (signature.length !== 64 || publicKey.length !== 32) return false;
  if (!scalarBelowL(signature) || hasSmallOrderR(signature)) return false;
  const key = nativeKey(publicKey);
  if (key === null) return false;
  try {
    return nodeVerify(null, message, key, signature);
  } catch {
    return false;
  }
}


// The signing key objects of the few keys this process signs with (the ledger's), built once per key: importing
// a PKCS#8 key costs more than the signature. Held by the key's own bytes, so no copy of a secret is kept.
const signingKeys = new WeakMap<Uint8Array, KeyObject>();
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/**
 * RFC 8032 Ed25519 signing on node's OpenSSL: the same bytes as src/crypto/ed25519.ts sign (Ed25519 is
 * deterministic; test/crypto.unit.test.ts holds the two to it), some fifteen times faster than the portable one.
 */
export function signEd25519Native(message: Uint8Array, secretKey: Uint8Array): Uint8Array {
  let key = signingKeys.get(secretKey);
  if (key === undefined) {
    if (secretKey.length !== 32) throw new Error('an Ed25519 secret key is 32 bytes');
    key = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, secretKey]), format: 'der', type: 'pkcs8' });
    signingKeys.set(secretKey, key);
  }
  const signature = nodeSign(null, message, key);
  return new Uint8Array(signature.buffer, signature.byteOffset, signature.byteLength);
}
