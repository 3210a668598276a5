/**
 * Ed25519 with RFC 8032 / FIPS 186-5 strict verification (never ZIP-215): non-canonical encodings,
 * S >= L and small-order public keys are all refused.
 *
 * Two verifiers give the same verdicts (test/crypto.test.ts checks them against each other):
 * - verifyStrictPortable: @noble/ed25519 with { zip215: false }, pure JS, runs in a browser too.
 * - verifyStrict: node's OpenSSL Ed25519 (about ten times faster), wrapped with the checks OpenSSL does
 *   not make itself: the public key must be a canonical point of full order (checked once per key with
 *   noble and cached) and S must be below the group order L. OpenSSL verifies cofactorless and compares the
 *   recomputed R byte for byte, so a non-canonical or otherwise mangled R can never match.
 */
import { createPublicKey, verify as nodeVerify, type KeyObject } from 'node:crypto';
import * as ed from '@noble/ed25519';
import { sha512 } from '@noble/hashes/sha2.js';
import { sha256Hex } from './hash.ts';

ed.hashes.sha512 = sha512;

export interface KeyPair {
  readonly secretKey: Uint8Array; // 32-byte RFC 8032 seed
  readonly publicKey: Uint8Array; // 32-byte encoded point
}

export function generateKeyPair(): KeyPair {
  const secretKey = ed.utils.randomSecretKey();
  return { secretKey, publicKey: ed.getPublicKey(secretKey) };
}

export function publicKeyFromSecret(secretKey: Uint8Array): Uint8Array {
  return ed.getPublicKey(secretKey);
}

export function sign(message: Uint8Array, secretKey: Uint8Array): Uint8Array {
  return ed.sign(message, secretKey);
}

export function verifyStrictPortable(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  if (signature.length !== 64 || publicKey.length !== 32) return false;
  try {
    return ed.verify(signature, message, publicKey, { zip215: false });
  } catch {
    return false;
  }
}

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
  const hex = Buffer.from(publicKey).toString('hex');
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

/** A public key we accept: canonical encoding of a point that is not of small order. */
export function isAcceptablePublicKey(publicKey: Uint8Array): boolean {
  if (publicKey.length !== 32) return false;
  try {
    const point = ed.Point.fromBytes(publicKey, false);
    return !point.isSmallOrder();
  } catch {
    return false;
  }
}

/** Key ids are derived from the key itself, so a key id can never point at two different keys. */
export function keyIdOf(publicKey: Uint8Array): string {
  return sha256Hex(publicKey);
}
