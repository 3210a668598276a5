/**
 * What hybrid signatures and SCITT receipts cost, next to the Ed25519-only figures measured in the same run:
 * - bytes per checkpoint note, Ed25519 alone and Ed25519 + ML-DSA-44;
 * - time to sign one checkpoint (both signatures) and to verify it (portable and native backends);
 * - the overhead on verifying an export or provenance document: one checkpoint, so one ML-DSA-44 verification
 *   per file, whatever its size (the events under it are station-signed Ed25519, unchanged);
 * - bytes, issue and verify time of a COSE Receipt (RFC 9942) for a leaf of a 1M-leaf tree (proof of 20 hashes).
 *
 *   npx tsx bench/hybrid.ts [--json] [--iterations N]
 */
import { randomBytes } from 'node:crypto';
import { createReport, runBench } from './report.ts';
import { newSigner, sign } from '../src/crypto/ed25519.ts';
import { newMlDsaSigner } from '../src/crypto/ml-dsa.ts';
import { formatCheckpointBody } from '../src/tlog/checkpoint.ts';
import { signNote, verifyNote, noteKeyId } from '../src/tlog/note.ts';
import { addMlDsaSignature, mlDsaNoteKeyId, verifyMlDsaLine } from '../src/tlog/ml-dsa-note.ts';
import { portableCrypto, type CryptoBackend } from '../src/crypto/backend.ts';
import { nativeCrypto } from '../src/native/crypto.ts';
import { opensslHasMlDsa44 } from '../src/native/ml-dsa.ts';
import { issueReceipt, verifyReceipt } from '../src/scitt/receipt.ts';
import { leafHash } from '../src/merkle/hash.ts';
import { rootFromInclusionProof } from '../src/merkle/proofs.ts';
import { fromHex } from '../src/crypto/encoding.ts';

const args = process.argv.slice(2);
const json = args.includes('--json');
const iterations = Number(args[args.indexOf('--iterations') + 1]) > 0 && args.includes('--iterations') ? Number(args[args.indexOf('--iterations') + 1]) : 50;

/** Mean milliseconds of `f` over the iterations, after a warm-up. */
function time(f: () => unknown): number {
  for (let i = 0; i < 3; i++) f();
  const started = performance.now();
  for (let i = 0; i < iterations; i++) f();
  return (performance.now() - started) / iterations;
}

runBench(async () => {
  const report = createReport('hybrid');
  const figures: Record<string, number> = {};
  const add = (key: string, what: string, value: number, unit: string, digits = 3) => {
    figures[key] = value;
    report.add(key, what, value, unit, digits);
  };
  const origin = 'factory.example/flashtrail';
  const ed = newSigner();
  const pq = newMlDsaSigner();
  const body = formatCheckpointBody({ origin, size: 1_048_576, root: randomBytes(32) });
  const classical = signNote(body, origin, ed.secretKey, ed.publicKey);
  const hybrid = addMlDsaSignature(classical, origin, pq, Math.floor(Date.now() / 1000));
  const edKey = { name: origin, id: noteKeyId(origin, ed.publicKey), publicKey: ed.publicKey };
  const pqKey = { name: origin, id: mlDsaNoteKeyId(origin, pq.publicKey), publicKey: pq.publicKey };

  add('checkpointBytesClassical', 'checkpoint note, Ed25519 alone', new TextEncoder().encode(classical).length, 'bytes', 0);
  add('checkpointBytesHybrid', 'checkpoint note, Ed25519 + ML-DSA-44', new TextEncoder().encode(hybrid).length, 'bytes', 0);
  add('signClassicalMs', 'sign a checkpoint, Ed25519 alone', time(() => signNote(body, origin, ed.secretKey, ed.publicKey)), 'ms');
  add('signHybridMs', 'sign a checkpoint, Ed25519 + ML-DSA-44 (hedged)', time(() => addMlDsaSignature(signNote(body, origin, ed.secretKey, ed.publicKey), origin, pq, 1)), 'ms');
  const backends: [string, CryptoBackend][] = [['portable', portableCrypto], [opensslHasMlDsa44 ? 'native (OpenSSL)' : 'native (no OpenSSL ML-DSA here: portable)', nativeCrypto]];
  for (const [name, crypto] of backends) {
    const key = name.startsWith('portable') ? 'Portable' : 'Native';
    add(`verifyClassical${key}Ms`, `verify a checkpoint's Ed25519 line, ${name}`, time(() => verifyNote(hybrid, [edKey], crypto)), 'ms');
    add(`verifyMlDsa${key}Ms`, `verify its ML-DSA-44 line, ${name} (the hybrid overhead per export or provenance document)`, time(() => verifyMlDsaLine(hybrid, pqKey, crypto)), 'ms');
  }

  // A receipt for a leaf of a 1M-leaf tree: 20 path hashes.
  const entry = randomBytes(700);
  const path = Array.from({ length: 20 }, () => new Uint8Array(randomBytes(32)));
  const index = 777_777;
  const size = 1_048_576;
  const root = rootFromInclusionProof(leafHash(entry), index, size, path) as Uint8Array;
  const signer = { kid: fromHex(ed.keyId), alg: -8 as const, sign: (m: Uint8Array) => sign(m, ed.secretKey) };
  const input = { issuer: origin, leaf: leafHash(entry), index, size, path, root };
  const receipt = issueReceipt(input, signer);
  add('receiptBytes', 'COSE Receipt, leaf of a 1M-leaf tree', receipt.length, 'bytes', 0);
  add('receiptIssueMs', 'issue a receipt (Ed25519)', time(() => issueReceipt(input, signer)), 'ms');
  const key = { kid: fromHex(ed.keyId), alg: -8 as const, publicKey: ed.publicKey };
  add('receiptVerifyMs', 'verify a receipt, native', time(() => verifyReceipt(receipt, entry, key, nativeCrypto)), 'ms');

  if (json) console.log(JSON.stringify({ node: process.version, iterations, opensslMlDsa44: opensslHasMlDsa44, ...figures }, null, 2));
  else report.print();
});
