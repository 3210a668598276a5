/** The crypto backend for Node entry points: OpenSSL SHA-256 and strict Ed25519 (same verdicts as portable). */
import { createHash, hash } from 'node:crypto';
import type { CryptoBackend } from '../crypto/backend.ts';
import { verifyStrict } from './ed25519.ts';
import { verifyMlDsa44Native } from './ml-dsa.ts';

const asBytes = (b: Buffer) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

export const nativeCrypto: CryptoBackend = {
  name: 'native',
  sha256: (bytes) => asBytes(hash('sha256', bytes, 'buffer')),
  sha256Stream: () => {
    const h = createHash('sha256');
    return { update: (bytes) => void h.update(bytes), digest: () => asBytes(h.digest()) };
  },
  verifyEd25519: verifyStrict,
  verifyMlDsa44: verifyMlDsa44Native,
};
