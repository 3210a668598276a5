/**
 * ML-DSA-44 verification and signing by OpenSSL where this Node has it (OpenSSL 3.5: Node 24 and later), else
 * the portable implementation. Both are FIPS 204 ML-DSA with the empty context, signing hedged in both;
 * test/ml-dsa.unit.test.ts holds whichever runs to Wycheproof's verdicts and to the portable verifier.
 */
import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { ML_DSA_44, signMlDsa44, verifyMlDsa44Portable } from '../crypto/ml-dsa.ts';
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

/**
 * PKCS#8 prefix of an ML-DSA-44 private key in its expanded form (the 2560-byte FIPS 204 skEncode output, the
 * `expandedKey` choice of RFC 9881's ML-DSA-PrivateKey), which is what MlDsaSigner.secretKey holds.
 */
const PKCS8_EXPANDED_PREFIX = Buffer.from('30820a18020100300b060960864801650304031104820a0404820a00', 'hex');
const EXPANDED_SECRET_KEY_BYTES = 2560;

// Built once per key (the ledger signs with one or two): importing the key costs more than a signature. Held by
// the key's own bytes, so no copy of a secret outlives it.
const signingKeys = new WeakMap<Uint8Array, KeyObject>();

function signOpenssl(message: Uint8Array, secretKey: Uint8Array): Uint8Array {
  let key = signingKeys.get(secretKey);
  if (key === undefined) {
    if (secretKey.length !== EXPANDED_SECRET_KEY_BYTES) throw new RangeError(`an ML-DSA-44 secret key is ${EXPANDED_SECRET_KEY_BYTES} bytes, not ${secretKey.length}`);
    key = createPrivateKey({ key: Buffer.concat([PKCS8_EXPANDED_PREFIX, secretKey]), format: 'der', type: 'pkcs8' });
    signingKeys.set(secretKey, key);
  }
  const signature = sign(null, message, key);
  return new Uint8Array(signature.buffer, signature.byteOffset, signature.byteLength);
}

/**
 * A hedged ML-DSA-44 signature (empty context) on OpenSSL where this Node has it: about a tenth of the portable
 * one's CPU (0.5 against 5.7 ms here), which is most of a provenance document's signing cost.
 */
export const signMlDsa44Native: (message: Uint8Array, secretKey: Uint8Array) => Uint8Array = opensslHasMlDsa44 ? signOpenssl : (message, secretKey) => signMlDsa44(message, secretKey);
