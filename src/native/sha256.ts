/** OpenSSL's SHA-256 through node:crypto, for node processes (see src/crypto/hash.ts). */
import { hash } from 'node:crypto';
import { setSha256 } from '../crypto/sha256.ts';

export function useNativeSha256(): void {
  setSha256((bytes) => {
    const digest = hash('sha256', bytes, 'buffer');
    return new Uint8Array(digest.buffer, digest.byteOffset, digest.byteLength);
  });
}
