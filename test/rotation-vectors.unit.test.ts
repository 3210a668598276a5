/**
 * The rotated-ledger vectors (test/vectors/format/rotation, docs/format.md §5.4, §5.5.1, §14) through our verifier:
 * every genuine file from the ledger that rotated its keys verifies with the genesis keys pinned, and every
 * tampered one fails with the manifest's code. test/export-independent-verifier.int.test.ts runs the same
 * manifest through the independent Python verifier.
 */
import { describe, expect, it } from 'vitest';
import { rotationManifest, verifyRotationVector } from './helpers/format-vectors.ts';
import { portableCrypto } from '../src/crypto/backend.ts';
import { VerificationError } from '../src/verify/errors.ts';

describe('rotated-ledger vectors', () => {
  it('covers both chains, exports, renewals of documents and exports, and genuine files', () => {
    const kinds = new Set(rotationManifest.vectors.map((v) => `${v.kind}:${v.expect === 'ok' ? 'ok' : 'bad'}`));
    expect([...kinds].sort()).toEqual(['export-renewal:bad', 'export-renewal:ok', 'export:bad', 'export:ok', 'provenance:bad', 'provenance:ok', 'renewal:bad', 'renewal:ok']);
  });
  for (const v of rotationManifest.vectors) {
    it(`${v.file}${v.pin ? ` (pinned: ${v.pin})` : ''}: ${v.expect}`, async () => {
      let verdict = 'ok';
      try {
        await verifyRotationVector(v, portableCrypto);
      } catch (error) {
        if (!(error instanceof VerificationError)) throw error;
        verdict = error.code;
      }
      expect(verdict, v.description).toBe(v.expect);
    });
  }
});
