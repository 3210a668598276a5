/**
 * SHA-256 for everything the ledger and its verifiers hash. Pure JS (@noble/hashes) by default, so that
 * verification runs in a browser; node's composition roots switch to OpenSSL's with useNativeSha256()
 * (src/crypto/hash-native.ts) for speed. Both compute the same function, so nothing else changes.
 */
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import { toHex } from './encoding.ts';

export type Sha256 = (bytes: Uint8Array) => Uint8Array;

let implementation: Sha256 = (bytes) => nobleSha256(bytes);

export function setSha256(fn: Sha256): void {
  implementation = fn;
}

export function sha256(bytes: Uint8Array): Uint8Array {
  return implementation(bytes);
}

export function sha256Hex(bytes: Uint8Array): string {
  return toHex(implementation(bytes));
}
