/**
 * SCITT receipts across a ledger key rotation and a restart (docs/format.md §13.1, §5.4), on a real ledger and
 * SQLite files: a receipt fetched before `flashtrail keys rotate` is signed by the old key; after the restart that
 * announces the new key, `/.well-known/scitt-keys` must still let a relying party check it. The key set serves
 * every Ed25519 key of the ledger's key chain, each with the tree sizes it signs, and a receipt is checked by the
 * key its kid names, valid at its tree_size — by our verifier and by the independent Python one (which picks keys
 * by kid and ignores the validity labels).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { startTestLedger, type TestLedger } from './helpers/ledger-fixture.ts';
import { SimulatedStation } from '../src/sim/simulated-station.ts';
import { LedgerClient } from '../src/client/ledger-client.ts';
import { EventSigner } from '../src/event/signer.ts';
import type { Signer } from '../src/crypto/ed25519.ts';
import { canonicalBytes } from '../src/crypto/jcs.ts';
import { nativeCrypto } from '../src/native/crypto.ts';
import { parseScittKeySet, scittKeyForReceipt, verifyReceipt } from '../src/scitt/receipt.ts';
import { ScittError } from '../src/scitt/errors.ts';
import { parseVerifierKey, type ProvenanceDocument } from '../src/verify/index.ts';
import { missingPython, PYTHON } from './helpers/python.ts';

const ROOT = join(fileURLToPath(import.meta.url), '..', '..');
const VERIFIER = join(ROOT, 'test', 'interop', 'python-cose', 'verify_cose.py');
const pythonSkip = missingPython('cbor2', 'cryptography');
if (pythonSkip) console.warn(`independent COSE verifier skipped: ${pythonSkip}`);
const run = promisify(execFile);
const cli = (args: string[]) => run(process.execPath, [join(ROOT, 'bin', 'flashtrail.js'), ...args], { maxBuffer: 1 << 26 }).then((r) => ({ code: 0, ...r }), (e: { code: number; stdout: string; stderr: string }) => e);
const work = mkdtempSync(join(tmpdir(), 'flashtrail-scitt-rotate-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const get = async (t: TestLedger, path: string) => {
  const r = await fetch(`${t.url}${path}`, { headers: { authorization: `Bearer ${t.tokens.auditor}` } });
  expect(r.status, path).toBe(200);
  return new Uint8Array(await r.arrayBuffer());
};
const flash = (t: TestLedger, serial: string, stationKey: Signer) =>
  new SimulatedStation(new LedgerClient(t.url, t.tokens.station1), new EventSigner(stationKey, 'ST-01'), { stationId: 'ST-01', operator: 'op', batchId: t.batchId, hardwareRevision: 'rev-C' }, t.release).flash(serial, 'pass');
const lastEntry = async (t: TestLedger, serial: string) => {
  const doc = JSON.parse(new TextDecoder().decode(await get(t, `/v1/units/${serial}/provenance`))) as ProvenanceDocument;
  return doc.entries.at(-1) as ProvenanceDocument['entries'][number];
};
const codeOf = (f: () => unknown) => {
  try {
    f();
    return 'ok';
  } catch (error) {
    if (error instanceof ScittError) return error.code;
    throw error;
  }
};

describe('SCITT receipts after a ledger key rotation and a restart', () => {
  it('the key set serves the whole key chain with validity; a receipt by the replaced key still verifies, one outside its key\'s validity does not', async () => {
    const dataDir = join(work, 'ledger');
    const before = await startTestLedger({ dataDir });
    let oldReceipt: Uint8Array;
    let oldEntry: ProvenanceDocument['entries'][number];
    let oldKeyId: string;
    try {
      await flash(before, 'R-1', before.stationKeys['ST-01']);
      oldEntry = await lastEntry(before, 'R-1');
      oldReceipt = await get(before, `/entries/${oldEntry.leafIndex}`);
      oldKeyId = parseVerifierKey(new TextDecoder().decode(await get(before, '/v1/ledger/key')).trim()).id;
      const single = parseScittKeySet(await get(before, '/.well-known/scitt-keys'));
      expect(single).toHaveLength(1);
      expect(single[0]?.validity).toEqual({ from: 0, until: null });
    } finally {
      await before.stop();
    }
    const rotated = await cli(['keys', 'rotate', '--data', dataDir]);
    expect(rotated.code, rotated.stderr).toBe(0);
    const rotation = JSON.parse(rotated.stdout) as { previousKeyId: string; keyId: string };

    const after = await startTestLedger({ dataDir, setup: false });
    try {
      expect(parseVerifierKey(new TextDecoder().decode(await get(after, '/v1/ledger/key')).trim()).id).not.toBe(oldKeyId);
      await flash(after, 'R-2', before.stationKeys['ST-01']);
      const newEntry = await lastEntry(after, 'R-2');
      const newReceipt = await get(after, `/entries/${newEntry.leafIndex}`);
      const keySetBytes = await get(after, '/.well-known/scitt-keys');
      const keySet = parseScittKeySet(keySetBytes);
      // The chain, oldest first: the replaced key up to the rotation's leaf, the new key from the next size on.
      const rotationLeaf = (await after.running.log.leafOfPosition((await after.running.store.readStream('ledger-key-rotations'))[0]!.position))!.index;
      expect(keySet.map((k) => Buffer.from(k.kid).toString('hex'))).toEqual([rotation.previousKeyId, rotation.keyId]);
      expect(keySet.map((k) => k.validity)).toEqual([{ from: 0, until: rotationLeaf }, { from: rotationLeaf + 1, until: null }]);

      // The receipt fetched before the rotation: its kid names the replaced key, valid at its tree_size.
      const oldKey = scittKeyForReceipt(keySet, oldReceipt);
      expect(Buffer.from(oldKey.kid).toString('hex')).toBe(rotation.previousKeyId);
      expect(verifyReceipt(oldReceipt, canonicalBytes(oldEntry.envelope), oldKey, nativeCrypto).index).toBe(oldEntry.leafIndex);
      // One made after it: the new key.
      const newKey = scittKeyForReceipt(keySet, newReceipt);
      expect(Buffer.from(newKey.kid).toString('hex')).toBe(rotation.keyId);
      expect(verifyReceipt(newReceipt, canonicalBytes(newEntry.envelope), newKey, nativeCrypto).size).toBeGreaterThan(rotationLeaf);
      // A key set claiming the old key signs no tree this large: the receipt is refused, naming the key and sizes.
      const narrowed = keySet.map((k, i) => (i === 0 ? { ...k, validity: { from: 0, until: 1 } } : k));
      expect(codeOf(() => scittKeyForReceipt(narrowed, oldReceipt))).toBe('RECEIPT_KEY_UNKNOWN');
      expect(codeOf(() => scittKeyForReceipt(keySet.slice(1), oldReceipt))).toBe('RECEIPT_KEY_UNKNOWN');

      if (pythonSkip === null) {
        const file = (name: string, bytes: Uint8Array) => {
          const path = join(work, name);
          writeFileSync(path, bytes);
          return path;
        };
        const checked = await run(PYTHON, [VERIFIER, 'receipt', file('old.cose', oldReceipt), '--entry', file('old.entry', canonicalBytes(oldEntry.envelope)), '--keys', file('keys.cbor', keySetBytes)]);
        expect(JSON.parse(checked.stdout)).toMatchObject({ ok: true, index: oldEntry.leafIndex });
      }
    } finally {
      await after.stop();
    }
  });
});
