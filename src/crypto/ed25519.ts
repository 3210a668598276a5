/**
 * Ed25519 with RFC 8032 / FIPS 186-5 strict verification (never ZIP-215): non-canonical encodings,
 * S >= L and small-order public keys are all refused. Pure JS (@noble/ed25519): runs in a browser too.
 * ed25519-native.ts has the same verdicts from node's OpenSSL, about ten times faster.
 */
import * as ed from '@noble/ed25519';
import { sha512 } from '@noble/hashes/sha2.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { toHex } from './encoding.ts';

ed.hashes.sha512 = sha512;

/** A signing key with its derived id, as the ledger, administrators and stations hold it. */
export interface Signer {
  readonly keyId: string;
  readonly publicKey: Uint8Array;
  readonly secretKey: Uint8Array;
}

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

export type VerifyFn = (signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array) => boolean;

/** Strict verification with @noble/ed25519 and { zip215: false }. */
export function verifyStrictPortable(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  if (signature.length !== 64 || publicKey.length !== 32) return false;
  try {
    return ed.verify(signature, message, publicKey, { zip215: false });
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

/** A fresh signing key. */
export function newSigner(): Signer {
  const { secretKey, publicKey } = generateKeyPair();
  return { keyId: keyIdOf(publicKey), publicKey, secretKey };
}

/** Key ids are derived from the key itself, so a key id can never point at two different keys. */
export function keyIdOf(publicKey: Uint8Array): string {
  return toHex(sha256(publicKey));
}
