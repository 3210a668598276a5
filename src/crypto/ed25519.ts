/**
 * Ed25519 with RFC 8032 / FIPS 186-5 strict verification (never ZIP-215). One exact rule, which every
 * verifier of flashtrail's (this one, the OpenSSL one in src/native/ed25519.ts, the Python and Java clients)
 * applies with identical verdicts, whatever its library does by itself:
 *
 * - S < L; the public key A is a canonical encoding of a point not of small order; R is not one of the
 *   eight points of small order;
 * - the cofactorless group equation [S]B = R + [k]A, with the computed R compared to the signature's R
 *   byte for byte (so a non-canonical R never verifies).
 *
 * RFC 8032 allows the cofactored or the cofactorless equation; the two differ only on points with a
 * small-order component, which honest signers never produce. OpenSSL is cofactorless and, from 3.5 on,
 * refuses an R of small order as libsodium does; @noble/ed25519's own verify is cofactored. Fixing the rule
 * here keeps the ledger's verdict the same on every Node release and in every verifier
 * (test/vectors/strict-ed25519.json holds one vector per difference). Pure JS: runs in a browser too.
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

const L = 2n ** 252n + 27742317777372353535851937790883648493n;

// L = 2^252 + 27742317777372353535851937790883648493, little-endian, as in RFC 8032 §5.1.7.
const L_LE = Uint8Array.from([
  0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
]);

/** S < L, compared byte by byte from the most significant end (no bigint on the hot path). */
export function scalarBelowL(signature: Uint8Array): boolean {
  for (let i = 31; i >= 0; i--) {
    const s = signature[32 + i] as number;
    const l = L_LE[i] as number;
    if (s !== l) return s < l;
  }
  return false; // S == L
}

/** The eight points of small order, canonically encoded (non-canonical encodings never verify anyway). */
const SMALL_ORDER_POINTS = new Set([
  '0100000000000000000000000000000000000000000000000000000000000000', // the identity
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // order 2
  '0000000000000000000000000000000000000000000000000000000000000000', // order 4
  '0000000000000000000000000000000000000000000000000000000000000080',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05', // order 8
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa',
]);

/** The signature's R is a point of small order: refused, as libsodium and OpenSSL 3.5 refuse it. */
export function hasSmallOrderR(signature: Uint8Array): boolean {
  const first = signature[0];
  if (first !== 0x01 && first !== 0xec && first !== 0x00 && first !== 0x26 && first !== 0xc7) return false; // the common case, cheaply
  return SMALL_ORDER_POINTS.has(toHex(signature.subarray(0, 32)));
}

function littleEndian(bytes: Uint8Array): bigint {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i] as number);
  return n;
}

/** The rule above, with @noble/ed25519's point arithmetic (its own verify is cofactored). */
export function verifyStrictPortable(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  if (signature.length !== 64 || publicKey.length !== 32) return false;
  if (!scalarBelowL(signature) || hasSmallOrderR(signature)) return false;
  const r = signature.subarray(0, 32);
  try {
    const a = ed.Point.fromBytes(publicKey, false); // strict decoding: canonical encodings only
    if (a.isSmallOrder()) return false;
    const hram = new Uint8Array(64 + message.length);
    hram.set(r, 0);
    hram.set(publicKey, 32);
    hram.set(message, 64);
    const k = littleEndian(sha512(hram)) % L;
    const computed = ed.Point.BASE.multiply(littleEndian(signature.subarray(32)), false).subtract(a.multiply(k, false)).toBytes();
    let diff = 0;
    for (let i = 0; i < 32; i++) diff |= (computed[i] as number) ^ (r[i] as number);
    return diff === 0;
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
