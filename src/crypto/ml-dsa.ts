/**
 * ML-DSA-44 (FIPS 204, NIST security category 2), the post-quantum half of the ledger's hybrid signatures,
 * through @noble/post-quantum (pure JS, runs in a browser). Pure ML-DSA with the empty context string, as
 * C2SP tlog-cosignature's 0x06 implementations use it; signing is hedged (FIPS 204 §3.4: fresh randomness
 * mixed into each signature). Keys are kept as their 32-byte seed ξ, the form FIPS 204 and the IETF
 * drafts recommend; the 2560-byte expanded secret key is derived when loaded.
 */
import { ml_dsa44 } from '@noble/post-quantum/ml-dsa.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { toHex } from './encoding.ts';

export const ML_DSA_44 = { publicKeyBytes: 1312, signatureBytes: 2420, seedBytes: 32 } as const;

/** The ledger's ML-DSA-44 key: id (hex SHA-256 of the public key, as for Ed25519 keys), public key and seed. */
export interface MlDsaSigner {
  readonly algorithm: 'ml-dsa-44';
  readonly keyId: string;
  readonly publicKey: Uint8Array;
  readonly seed: Uint8Array;
  /** The expanded secret key, derived from the seed. */
  readonly secretKey: Uint8Array;
}

export function mlDsaSignerFromSeed(seed: Uint8Array): MlDsaSigner {
  if (seed.length !== ML_DSA_44.seedBytes) throw new RangeError(`an ML-DSA-44 seed is ${ML_DSA_44.seedBytes} bytes, not ${seed.length}`);
  const { publicKey, secretKey } = ml_dsa44.keygen(seed);
  return { algorithm: 'ml-dsa-44', keyId: mlDsaKeyId(publicKey), publicKey, seed: Uint8Array.from(seed), secretKey };
}

export function newMlDsaSigner(): MlDsaSigner {
  return mlDsaSignerFromSeed(crypto.getRandomValues(new Uint8Array(ML_DSA_44.seedBytes)));
}

export function mlDsaKeyId(publicKey: Uint8Array): string {
  return toHex(sha256(publicKey));
}

/** A hedged ML-DSA-44 signature (2420 bytes) over the message, with an optional context string (≤ 255 bytes). */
export function signMlDsa44(message: Uint8Array, secretKey: Uint8Array, context?: Uint8Array): Uint8Array {
  return ml_dsa44.sign(message, secretKey, context ? { context } : {});
}

/** FIPS 204 ML-DSA.Verify; false (never an exception) for malformed keys, signatures or contexts. */
export function verifyMlDsa44Portable(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array, context?: Uint8Array): boolean {
  if (signature.length !== ML_DSA_44.signatureBytes || publicKey.length !== ML_DSA_44.publicKeyBytes) return false;
  if (context && context.length > 255) return false;
  try {
    return ml_dsa44.verify(signature, message, publicKey, context ? { context } : {});
  } catch {
    return false;
  }
}
