/**
 * The cryptographic primitives every hashing or verifying function takes as one explicit object, never a
 * process-wide switch. `portableCrypto` (pure JS: @noble/hashes, @noble/ed25519) is the default and runs in a
 * browser; Node entry points pass `nativeCrypto` (src/native/crypto.ts, OpenSSL) for speed. Both compute
 * the same functions with the same strict verdicts, and the tests hold them to it.
 */
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import { verifyStrictPortable, type VerifyFn } from './ed25519.ts';
import { verifyMlDsa44Portable } from './ml-dsa.ts';

export interface Sha256Stream {
  update(bytes: Uint8Array): void;
  digest(): Uint8Array;
}

export interface CryptoBackend {
  readonly name: 'portable' | 'native';
  sha256(bytes: Uint8Array): Uint8Array;
  /** SHA-256 as lowercase hex, where the backend writes it faster than hex of `sha256` (sha256.ts's sha256Hex uses it). */
  readonly sha256Hex?: (bytes: Uint8Array) => string;
  /** Incremental SHA-256, for content digests of streamed files. */
  sha256Stream(): Sha256Stream;
  /** Strict RFC 8032 Ed25519 verification (never ZIP-215). */
  readonly verifyEd25519: VerifyFn;
  /** FIPS 204 ML-DSA-44 verification, pure ML-DSA with the empty context (the ledger's post-quantum signatures). */
  readonly verifyMlDsa44: VerifyFn;
}

export const portableCrypto: CryptoBackend = {
  name: 'portable',
  sha256: (bytes) => nobleSha256(bytes),
  sha256Stream: () => {
    const h = nobleSha256.create();
    return { update: (bytes) => void h.update(bytes), digest: () => h.digest() };
  },
  verifyEd25519: verifyStrictPortable,
  verifyMlDsa44: (signature, message, publicKey) => verifyMlDsa44Portable(signature, message, publicKey),
};
