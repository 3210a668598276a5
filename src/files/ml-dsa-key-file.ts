/**
 * The ledger's ML-DSA-44 key file: JSON holding the 32-byte seed (FIPS 204's ξ, from which the key is
 * derived), written durably with mode 0600 and refused when others can read it, like the Ed25519 key files.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { z } from 'zod';
import { writeFileDurable } from './durable.ts';
import { KeyFileError } from './key-file.ts';
import { mlDsaSignerFromSeed, type MlDsaSigner } from '../crypto/ml-dsa.ts';
import { fromHex, toHex } from '../crypto/encoding.ts';

export const ML_DSA_KEY_FILE_TYPE = 'flashtrail-ml-dsa-44-secret-key-v1';

const MlDsaKeyFile = z.strictObject({
  type: z.literal(ML_DSA_KEY_FILE_TYPE),
  keyId: z.string().regex(/^[0-9a-f]{64}$/),
  seed: z.string().regex(/^[0-9a-f]{64}$/),
  comment: z.string().optional(),
});

export function writeMlDsaKeyFile(path: string, signer: MlDsaSigner, comment?: string): void {
  const body = { type: ML_DSA_KEY_FILE_TYPE, keyId: signer.keyId, seed: toHex(signer.seed), ...(comment ? { comment } : {}) };
  try {
    writeFileDurable(path, JSON.stringify(body, null, 2) + '\n', { mode: 0o600, overwrite: false });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new KeyFileError(`${path} already exists; refusing to overwrite a key`);
    throw error;
  }
}

export function readMlDsaKeyFile(path: string): MlDsaSigner {
  if (!existsSync(path)) throw new KeyFileError(`key file ${path} does not exist`);
  const mode = statSync(path).mode & 0o777;
  if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
    throw new KeyFileError(`key file ${path} has mode ${mode.toString(8)}; it must be readable by its owner only (chmod 600 ${path})`);
  }
  const text = readFileSync(path, 'utf8');
  let parsed;
  try {
    parsed = MlDsaKeyFile.parse(JSON.parse(text));
  } catch {
    throw new KeyFileError(`key file ${path} is empty or damaged (not a ${ML_DSA_KEY_FILE_TYPE} file): restore it from your backup`);
  }
  const signer = mlDsaSignerFromSeed(fromHex(parsed.seed));
  if (signer.keyId !== parsed.keyId) throw new KeyFileError(`key file ${path} is inconsistent: its key id does not match its seed`);
  return signer;
}
