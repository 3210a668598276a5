/** ML-DSA-44 (src/crypto/ml-dsa.ts) through both backends; Wycheproof's vectors are in ml-dsa-wycheproof.int.test.ts. */
import { describe, expect, it } from 'vitest';
import { ML_DSA_44, mlDsaSignerFromSeed, newMlDsaSigner, signMlDsa44 } from '../src/crypto/ml-dsa.ts';
import { portableCrypto } from '../src/crypto/backend.ts';
import { nativeCrypto } from '../src/native/crypto.ts';
import { opensslHasMlDsa44, signMlDsa44Native } from '../src/native/ml-dsa.ts';
import { toHex, utf8 } from '../src/crypto/encoding.ts';

describe('ML-DSA-44', () => {
  it('signs and verifies with a fresh key, refusing other messages, keys and truncated signatures in both backends', () => {
    const a = newMlDsaSigner();
    const b = newMlDsaSigner();
    const msg = utf8('checkpoint');
    const sig = signMlDsa44(msg, a.secretKey);
    expect(sig.length).toBe(ML_DSA_44.signatureBytes);
    expect(a.publicKey.length).toBe(ML_DSA_44.publicKeyBytes);
    for (const c of [portableCrypto, nativeCrypto]) {
      expect(c.verifyMlDsa44(sig, msg, a.publicKey)).toBe(true);
      expect(c.verifyMlDsa44(sig, utf8('checkpoinT'), a.publicKey)).toBe(false);
      expect(c.verifyMlDsa44(sig, msg, b.publicKey)).toBe(false);
      expect(c.verifyMlDsa44(sig.subarray(1), msg, a.publicKey)).toBe(false);
    }
    // Hedged: two signatures of one message differ, and both verify.
    expect(toHex(signMlDsa44(msg, a.secretKey))).not.toBe(toHex(sig));
    // The seed is the key: loading it again gives the same key id and public key.
    expect(mlDsaSignerFromSeed(a.seed)).toMatchObject({ keyId: a.keyId, publicKey: a.publicKey });
  });

  it(`signs on ${opensslHasMlDsa44 ? "this Node's OpenSSL" : 'the portable implementation (this Node has no ML-DSA in OpenSSL)'}: hedged signatures that both backends accept, under this key only`, () => {
    const a = newMlDsaSigner();
    const b = newMlDsaSigner();
    const msg = utf8('provenance statement');
    const first = signMlDsa44Native(msg, a.secretKey);
    const second = signMlDsa44Native(msg, a.secretKey);
    expect(first.length).toBe(ML_DSA_44.signatureBytes);
    expect(toHex(second)).not.toBe(toHex(first));
    for (const c of [portableCrypto, nativeCrypto]) {
      expect(c.verifyMlDsa44(first, msg, a.publicKey)).toBe(true);
      expect(c.verifyMlDsa44(second, msg, a.publicKey)).toBe(true);
      expect(c.verifyMlDsa44(first, msg, b.publicKey)).toBe(false);
      expect(c.verifyMlDsa44(signMlDsa44Native(msg, b.secretKey), msg, b.publicKey)).toBe(true);
    }
    if (opensslHasMlDsa44) expect(() => signMlDsa44Native(msg, a.secretKey.subarray(1))).toThrow(/2560 bytes/);
  });
});

