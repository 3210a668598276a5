/**
 * The ledger's ML-DSA-44 key file: JSON holding the 32-byte seed (FIPS 204's ξ, from which the key is
 * derived), written durably with mode 0600 and refused when others can read it, like the Ed25519 key files.
 */
import { z } from 'zod';
import { KeyFileError, readKeyFileBody, writeKeyFileBody } from './key-file.ts';
import { writeFileDurable } from './durable.ts';
import { mlDsaSignerFromSeed, type MlDsaSigner } from '../crypto/ml-dsa.ts';
import { fromHex, toHex } from '../crypto/encoding.ts';

export const ML_DSA_KEY_FILE_TYPE = 'flashtrail-ml-dsa-44-secret-key-v1';

const MlDsaKeyFile = z.strictObject({
  type: z.literal(ML_DSA_KEY_FILE_TYPE),
  keyId: z.string().regex(/^[0-9a-f]{64}$/),
  seed: z.string().regex(/^[0-9a-f]{64}$/),
  comment: z.string().optional(),
});

const bodyOf = (signer: MlDsaSigner, comment?: string) => ({ type: ML_DSA_KEY_FILE_TYPE, keyId: signer.keyId, seed: toHex(signer.seed), ...(comment ? { comment } : {}) });

export function writeMlDsaKeyFile(path: string, signer: MlDsaSigner, comment?: string): void {
  writeKeyFileBody(path, bodyOf(signer, comment));
}

/**
 * Replaces the key file durably (a new file renamed over the old one: a crash leaves one or the other), mode
 * 0600. Only for a key whose predecessor is kept elsewhere (`keys rotate --ml-dsa` archives it first).
 */
export function replaceMlDsaKeyFile(path: string, signer: MlDsaSigner, comment?: string): void {
  writeFileDurable(path, JSON.stringify(bodyOf(signer, comment), null, 2) + '\n', { mode: 0o600 });
}

export function readMlDsaKeyFile(path: string): MlDsaSigner {
  const parsed = readKeyFileBody(path, MlDsaKeyFile, ML_DSA_KEY_FILE_TYPE);
  const signer = mlDsaSignerFromSeed(fromHex(parsed.seed));
  if (signer.keyId !== parsed.keyId) throw new KeyFileError(`key file ${path} is inconsistent: its key id does not match its seed`);
  return signer;
}
