/**
 * Strict Ed25519 verification on node's OpenSSL, with the same verdicts as verifyStrictPortable: the rule
 * in src/crypto/ed25519.ts (test/crypto.unit.test.ts holds the two to it). OpenSSL is wrapped with the
 * checks it does not make itself, or not in every release: the public key must be a canonical point not of
 * small order (checked once per key with noble, then cached), S must be below the group order L, and R must
 * not be of small order (OpenSSL 3.0 accepts the identity as R; 3.5 refuses it). OpenSSL verifies
 * cofactorless and compares the recomputed R byte for byte, so a non-canonical or otherwise mangled R can
 * never match.
 */
import { createPublicKey, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { hasSmallOrderR, isAcceptablePublicKey, scalarBelowL } from '../crypto/ed25519.ts';
import { toHex } from '../crypto/encoding.ts';

const keyCache = new Map<string, KeyObject | null>();

function nativeKey(publicKey: Uint8Array): KeyObject | null {
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

