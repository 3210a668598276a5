/**
 * ML-DSA-44 against Wycheproof (C2SP/wycheproof, Apache-2.0): every verify vector through the portable and the
 * native backends, and every seed-signing vector (keygen from the seed gives Wycheproof's public key; our
 * signature verifies, and the deterministic ones equal Wycheproof's bytes). The vector files are data fetched
 * from Wycheproof and kept beside the repository in shared/vectors/wycheproof (SOURCE.md there); without
 * them the Wycheproof part is skipped and says why.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ml_dsa44 } from '@noble/post-quantum/ml-dsa.js';
import { ML_DSA_44, mlDsaSignerFromSeed, verifyMlDsa44Portable } from '../src/crypto/ml-dsa.ts';
import { nativeCrypto } from '../src/native/crypto.ts';
import { opensslHasMlDsa44 } from '../src/native/ml-dsa.ts';
import { fromHex, toHex } from '../src/crypto/encoding.ts';

const ROOT = join(fileURLToPath(import.meta.url), '..', '..');
const DIGESTS: Record<string, string> = {
  'mldsa_44_verify_test.json': '0ca1b5df4575263e29b31fae7569a3da41df9a3b6fee56720a992d0cd1153b68',
  'mldsa_44_sign_seed_test.json': 'b29b0dcca2e52c988e1b9c06f8b521889ffbaadfc6a9dbf52f0f0f8f4c5b6b92',
};

/** shared/ sits beside the repository (/work/shared for /work/main, and for worktrees one level further up). */
function vectorsDir(): string | null {
  for (let dir = dirname(ROOT), i = 0; i < 3; dir = dirname(dir), i++) {
    const candidate = join(dir, 'shared', 'vectors', 'wycheproof');
    if (existsSync(join(candidate, 'mldsa_44_verify_test.json'))) return candidate;
  }
  return null;
}
const DIR = vectorsDir();
if (!DIR) console.warn('Wycheproof ML-DSA-44 vectors skipped: shared/vectors/wycheproof/mldsa_44_*_test.json not found beside the repository');

interface VerifyGroup { publicKey: string; tests: { tcId: number; msg: string; ctx?: string; sig: string; result: 'valid' | 'invalid' }[] }
interface SignGroup { privateSeed: string; publicKey: string; tests: { tcId: number; msg?: string; ctx?: string; rnd?: string; sig: string; result: 'valid' | 'invalid'; flags: string[] }[] }

function load<T>(name: string): { testGroups: T[]; numberOfTests: number } {
  const bytes = readFileSync(join(DIR as string, name));
  expect(createHash('sha256').update(bytes).digest('hex'), `${name} is not the copy SOURCE.md names`).toBe(DIGESTS[name]);
  return JSON.parse(bytes.toString('utf8')) as { testGroups: T[]; numberOfTests: number };
}

describe('ML-DSA-44 against Wycheproof', () => {
  it.skipIf(!DIR)('agrees with every Wycheproof mldsa_44_verify_test.json vector, portable and native', () => {
    const file = load<VerifyGroup>('mldsa_44_verify_test.json');
    let n = 0;
    const disagreements: string[] = [];
    for (const g of file.testGroups) {
      for (const t of g.tests) {
        n++;
        const [sig, msg, pk] = [fromHex(t.sig), fromHex(t.msg), fromHex(g.publicKey)];
        const ctx = t.ctx !== undefined ? fromHex(t.ctx) : undefined;
        // The backends verify with the empty context only; on a Node without OpenSSL 3.5 the native one is the portable one.
        const verdicts = [verifyMlDsa44Portable(sig, msg, pk, ctx), ...(ctx === undefined || ctx.length === 0 ? (opensslHasMlDsa44 ? [nativeCrypto.verifyMlDsa44(sig, msg, pk)] : []) : [])];
        if (verdicts.some((v) => v !== (t.result === 'valid'))) disagreements.push(`tcId ${t.tcId}: expected ${t.result}, got ${verdicts.join('/')}`);
      }
    }
    expect(n).toBe(file.numberOfTests);
    expect(disagreements).toEqual([]);
  });

  it.skipIf(!DIR)('derives Wycheproof\'s public key from each seed and reproduces mldsa_44_sign_seed_test.json', () => {
    const file = load<SignGroup>('mldsa_44_sign_seed_test.json');
    const disagreements: string[] = [];
    let checked = 0;
    for (const g of file.testGroups) {
      if (fromHex(g.privateSeed).length !== ML_DSA_44.seedBytes) {
        // A seed of the wrong length (IncorrectPrivateKeyLength): no key, every case invalid.
        if (g.tests.some((t) => t.result !== 'invalid')) disagreements.push(`seed of ${g.tests[0]?.tcId}: a valid case with a bad seed`);
        expect(() => mlDsaSignerFromSeed(fromHex(g.privateSeed))).toThrow(RangeError);
        continue;
      }
      const key = mlDsaSignerFromSeed(fromHex(g.privateSeed));
      if (toHex(key.publicKey) !== g.publicKey.toLowerCase()) disagreements.push(`seed of ${g.tests[0]?.tcId}: another public key`);
      for (const t of g.tests) {
        if (t.msg === undefined) continue; // μ-only (external mu) vectors: not an interface the ledger uses
        checked++;
        const ctx = t.ctx !== undefined ? fromHex(t.ctx) : undefined;
        if (t.result === 'invalid') {
          // Invalid: a context over 255 bytes, which signing must refuse.
          let refused = false;
          try {
            ml_dsa44.sign(fromHex(t.msg), key.secretKey, { context: ctx ?? new Uint8Array(0), extraEntropy: false });
          } catch {
            refused = true;
          }
          if (!refused) disagreements.push(`tcId ${t.tcId}: signed an invalid case`);
          continue;
        }
        const sig = ml_dsa44.sign(fromHex(t.msg), key.secretKey, { ...(ctx ? { context: ctx } : {}), extraEntropy: t.rnd !== undefined ? fromHex(t.rnd) : false });
        if (toHex(sig) !== t.sig.toLowerCase()) disagreements.push(`tcId ${t.tcId}: another signature`);
        if (!verifyMlDsa44Portable(fromHex(t.sig), fromHex(t.msg), key.publicKey, ctx)) disagreements.push(`tcId ${t.tcId}: Wycheproof's signature does not verify`);
      }
    }
    expect(checked).toBeGreaterThan(70);
    expect(disagreements).toEqual([]);
  });
});
