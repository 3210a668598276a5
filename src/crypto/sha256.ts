/**
 * SHA-256 on a given backend (portable unless told otherwise), as bytes or lowercase hex.
 * For hot paths and verifiers, pass the backend the entry point chose (see backend.ts).
 */
import { portableCrypto, type CryptoBackend } from './backend.ts';
import { toHex } from './encoding.ts';

export function sha256(bytes: Uint8Array, crypto: CryptoBackend = portableCrypto): Uint8Array {
  return crypto.sha256(bytes);
}

export function sha256Hex(bytes: Uint8Array, crypto: CryptoBackend = portableCrypto): string {
  return crypto.sha256Hex ? crypto.sha256Hex(bytes) : toHex(crypto.sha256(bytes));
}
