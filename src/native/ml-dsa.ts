/**
 * ML-DSA-44 verification by OpenSSL where this Node has it (OpenSSL 3.5: Node 24 and later), else the portable
 * implementation. Both are FIPS 204 ML-DSA.Verify with the empty context; test/ml-dsa.unit.test.ts holds
 * whichever runs to Wycheproof's verdicts.
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { ML_DSA_44, verifyMlDsa44Portable } from '../crypto/ml-dsa.ts';
import type { VerifyFn } from '../crypto/ed25519.ts';

/** SubjectPublicKeyInfo prefix of an ML-DSA-44 key (OID 2.16.840.1.101.3.4.3.17, RFC 9881). */
const SPKI_PREFIX = Buffer.from('30820532300b06096086480165030403110382052100', 'hex');

function publicKeyObject(publicKey: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' });
}

/** Whether this Node's OpenSSL verifies ML-DSA-44. */
export const opensslHasMlDsa44: boolean = (() => {
  try {
    return publicKeyObject(new Uint8Array(ML_DSA_44.publicKeyBytes)).asymmetricKeyType === ('ml-dsa-44' as string);
  } catch {
    return false;
  }
})();

const verifyOpenssl: VerifyFn = (signature, message, publicKey) => {
  if (signature.length !== ML_DSA_44.signatureBytes || publicKey.length !== ML_DSA_44.publicKeyBytes) return false;
  try {
    return verify(null, message, publicKeyObject(publicKey), signature);
  } catch {
    return false;
  }
};

export const verifyMlDsa44Native: VerifyFn = opensslHasMlDsa44 ? verifyOpenssl : (signature, message, publicKey) => verifyMlDsa44Portable(signature, message, publicKey);
