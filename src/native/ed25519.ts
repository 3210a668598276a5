/**
 * Strict Ed25519 verification on node's OpenSSL, with the same verdicts as verifyStrictPortable
 * (test/crypto.test.ts holds them to it). OpenSSL is wrapped with the checks it does not make itself: the
 * public key must be a canonical point of full order (checked once per key with noble, then cached) and S
 * must be below the group order L. OpenSSL verifies cofactorless and compares the recomputed R byte for
 * byte, so a non-canonical or otherwise mangled R can never match.
 */
import { createPublicKey, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { isAcceptablePublicKey } from '../crypto/ed25519.ts';
import { toHex } from '../crypto/encoding.ts';

// L = 2^252 + 27742317777372353535851937790883648493, little-endian, as in RFC 8032 §5.1.7.
const L_LE = Uint8Array.from([
  0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
]);

function scalarBelowL(signature: Uint8Array): boolean {
  for (let i = 31; i >= 0; i--) {
    const s = signature[32 + i] as number;
    const l = L_LE[i] as number;
    if (s !== l) return s < l;
  }
  return false; // S == L
}

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
  if (!scalarBelowL(signature)) return false;
  const key = nativeKey(publicKey);
  if (key === null) return false;
  try {
    return nodeVerify(null, message, key, signature);
  } catch {
    return false;
  }
}

