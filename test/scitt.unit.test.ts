/**
 * COSE_Sign1, COSE Receipts (RFC 9942, RFC9162_SHA256) and Transparent Statements (RFC 9943) as src/scitt
 * issues and verifies them: against the cose-wg example of RFC 9052's Sig_structure, on every leaf of small
 * trees, and refusing each way a receipt or statement can be wrong with its stable code.
 */
import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Tagged, encodeCbor, decodeCbor } from '../src/scitt/cbor.ts';
import { decodeSign1, encodeSign1, sigStructure } from '../src/scitt/cose.ts';
import { KEY_VALID_FROM, KEY_VALID_UNTIL, coseKeySet, issueReceipt, parseScittKeySet, scittKeyForReceipt, verifyReceipt, type ScittKey, type ScittSigner } from '../src/scitt/receipt.ts';
import { ENTRY_LABEL, registeredForm, signStatement, transparentStatement, verifyTransparentStatement } from '../src/scitt/statement.ts';
import { ScittError } from '../src/scitt/errors.ts';
import { leafHash } from '../src/merkle/hash.ts';
import { MemoryTree, inclusionProof, rootHash } from '../src/merkle/proofs.ts';
import { fromHex, toBase64, toHex, utf8 } from '../src/crypto/encoding.ts';
import { newSigner, sign, type Signer } from '../src/crypto/ed25519.ts';
import { envelopeBytes, signEnvelope } from '../src/crypto/dsse.ts';
import { canonicalBytes } from '../src/crypto/jcs.ts';
import { portableCrypto } from '../src/crypto/backend.ts';
import { nativeCrypto } from '../src/native/crypto.ts';

const scittSigner = (s: Signer): ScittSigner => ({ kid: fromHex(s.keyId), alg: -8, sign: (m) => sign(m, s.secretKey) });
const scittKey = (s: Signer): ScittKey => ({ kid: fromHex(s.keyId), alg: -8, publicKey: s.publicKey });
const ledger = newSigner();
const other = newSigner();
const ORIGIN = 'factory.example/flashtrail';

function codeOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (error instanceof ScittError) return error.code;
    throw error;
  }
  return 'ok';
}

function treeOf(entries: Uint8Array[]): MemoryTree {
  const t = new MemoryTree();
  for (const e of entries) t.append(leafHash(e));
  return t;
}

function receiptFor(tree: MemoryTree, entries: Uint8Array[], index: number, size = tree.size, signer = ledger): Uint8Array {
  return issueReceipt({ issuer: ORIGIN, leaf: leafHash(entries[index] as Uint8Array), index, size, path: inclusionProof(tree, index, size), root: rootHash(tree, size) }, scittSigner(signer));
}

describe('COSE_Sign1 (RFC 9052)', () => {
  // cose-wg/Examples eddsa-examples/eddsa-sig-02.json (commit c125a99e): EdDSA (Ed448) Sign1 with its ToBeSign.
  const example = {
    toBeSigned: '846A5369676E61747572653143A101274054546869732069732074686520636F6E74656E742E',
    cbor: 'D28443A10127A10445336434343854546869732069732074686520636F6E74656E742E5872988240A3A2F189BD486DE14AA77F54686C576A09F2E7ED9BAE910DF9139C2AC3BE7C27B7E10A20FA17C9D57D3510A2CF1F634BC0345AB9BE00849842171D1E9E98B2674C0E38BFCF6C557A1692B01B71015A47AC9F7748840CAD1DA80CBB5B349309FEBB912672B377C8B2072AF1598B3700',
    x: '5fd7449b59b461fd2ce787ec616ad46a1da1342485a70e1f8a0ea75d80e96778edf124769b46c7061bd6783df1e50f6cd1fa1abeafe8256180',
  };

  it('decodes the cose-wg example and rebuilds its Sig_structure byte for byte; OpenSSL verifies its signature over it', () => {
    const message = decodeSign1(fromHex(example.cbor.toLowerCase()));
    expect(toHex(message.protectedBytes)).toBe('a10127');
    expect(message.protectedHeader.get(1)).toBe(-8);
    expect(new TextDecoder().decode(message.unprotectedHeader.get(4) as Uint8Array)).toBe('3d448');
    const tbs = sigStructure(message.protectedBytes, message.payload as Uint8Array);
    expect(toHex(tbs)).toBe(example.toBeSigned.toLowerCase());
    const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed448', x: Buffer.from(example.x, 'hex').toString('base64url') }, format: 'jwk' });
    expect(nodeVerify(null, tbs, key, message.signature)).toBe(true);
    expect(toHex(encodeSign1(message))).toBe(example.cbor.toLowerCase());
  });

  it('encodes maps in RFC 8949 §4.2.1 order and refuses non-deterministic or malformed input', () => {
    expect(toHex(encodeCbor(new Map<number, unknown>([[1, -7], [395, 1], [-1, 2], [4, new Uint8Array([0x6b])]])))).toBe('a4012604416b19018b012002');
    expect(() => decodeCbor(Uint8Array.of(0x18, 0x01), 10)).toThrow(/smallest|more bytes/);
    expect(() => decodeCbor(Uint8Array.of(0x01, 0x01), 10)).toThrow();
    expect(() => decodeCbor(Uint8Array.of(0x9f, 0xff), 10)).toThrow();
    expect(() => decodeCbor(new Uint8Array(11), 10)).toThrow(/limit/);
    // A protected header whose map keys are out of order is refused, though it is valid CBOR.
    const unsorted = Uint8Array.of(0xa2, 0x04, 0x40, 0x01, 0x27);
    expect(() => decodeSign1(encodeCbor(new Tagged(18, [unsorted, new Map(), null, new Uint8Array(64)])))).toThrow(/deterministic/);
    expect(() => decodeSign1(encodeCbor([new Uint8Array(0), new Map(), null, new Uint8Array(64)]))).toThrow(/tag 18/);
  });
});

describe('COSE Receipts (RFC 9942, RFC9162_SHA256)', () => {
  it('issues a receipt for every leaf of trees of 1 to 11 entries, each verifying with both crypto backends', () => {
    for (let size = 1; size <= 11; size++) {
      const entries = Array.from({ length: size }, (_, i) => utf8(`entry ${i} of ${size}`));
      const tree = treeOf(entries);
      for (let index = 0; index < size; index++) {
        const receipt = receiptFor(tree, entries, index);
        for (const crypto of [portableCrypto, nativeCrypto]) {
          const verified = verifyReceipt(receipt, entries[index] as Uint8Array, scittKey(ledger), crypto);
          expect(verified).toMatchObject({ issuer: ORIGIN, index, size });
          expect(toHex(verified.root)).toBe(toHex(rootHash(tree, size)));
        }
      }
    }
  });

  it('has the RFC 9942 layout: tagged Sign1, detached payload, vds 1 protected, one inclusion proof [size, index, path]', () => {
    const entries = [utf8('a'), utf8('b'), utf8('c')];
    const receipt = receiptFor(treeOf(entries), entries, 1);
    expect(toHex(receipt.subarray(0, 2))).toBe('d284');
    const m = decodeSign1(receipt);
    expect(m.payload).toBeNull();
    expect(m.protectedHeader.get(395)).toBe(1);
    expect(m.protectedHeader.get(1)).toBe(-8);
    const proofs = (m.unprotectedHeader.get(396) as Map<number, Uint8Array[]>).get(-1) as Uint8Array[];
    expect(decodeCbor(proofs[0] as Uint8Array, 4096)).toEqual([3, 1, inclusionProof(treeOf(entries), 1, 3)]);
  });

  it('refuses a receipt for another entry, a tampered proof or signature, another key, and leaf_index ≥ tree_size', () => {
    const entries = Array.from({ length: 5 }, (_, i) => utf8(`e${i}`));
    const tree = treeOf(entries);
    const receipt = receiptFor(tree, entries, 2);
    const key = scittKey(ledger);
    expect(codeOf(() => verifyReceipt(receipt, entries[2] as Uint8Array, key))).toBe('ok');
    expect(codeOf(() => verifyReceipt(receipt, entries[3] as Uint8Array, key))).toBe('RECEIPT_PROOF_ERROR');
    expect(codeOf(() => verifyReceipt(receipt, entries[2] as Uint8Array, scittKey(other)))).toBe('RECEIPT_KEY_UNKNOWN');
    expect(codeOf(() => verifyReceipt(receiptFor(tree, entries, 2, 5, other), entries[2] as Uint8Array, { ...key, kid: fromHex(other.keyId) }))).toBe('RECEIPT_SIGNATURE_ERROR');

    const m = decodeSign1(receipt);
    const flipped = Uint8Array.from(m.signature);
    flipped[10] = (flipped[10] as number) ^ 1;
    expect(codeOf(() => verifyReceipt(encodeSign1({ ...m, signature: flipped }), entries[2] as Uint8Array, key))).toBe('RECEIPT_SIGNATURE_ERROR');
    const withProof = (proof: unknown) => encodeSign1({ ...m, unprotectedHeader: new Map([[396, new Map([[-1, [encodeCbor(proof)]]])]]) });
    const path = inclusionProof(tree, 2, 5);
    expect(codeOf(() => verifyReceipt(withProof([5, 2, path]), entries[2] as Uint8Array, key))).toBe('ok');
    expect(codeOf(() => verifyReceipt(withProof([5, 5, path]), entries[2] as Uint8Array, key))).toBe('RECEIPT_PROOF_ERROR');
    expect(codeOf(() => verifyReceipt(withProof([5, 2, path.slice(1)]), entries[2] as Uint8Array, key))).toBe('RECEIPT_PROOF_ERROR');
    expect(codeOf(() => verifyReceipt(withProof([4, 2, path]), entries[2] as Uint8Array, key))).not.toBe('ok');
    expect(codeOf(() => verifyReceipt(withProof([5, 2]), entries[2] as Uint8Array, key))).toBe('RECEIPT_FORMAT_ERROR');
    expect(codeOf(() => verifyReceipt(encodeSign1({ ...m, payload: rootHash(tree, 5) }), entries[2] as Uint8Array, key))).toBe('RECEIPT_FORMAT_ERROR');
    expect(codeOf(() => verifyReceipt(receipt.subarray(0, receipt.length - 1), entries[2] as Uint8Array, key))).toBe('RECEIPT_FORMAT_ERROR');
  });

  it('serves the key as a COSE_KeySet of one OKP Ed25519 key', () => {
    const set = decodeCbor(coseKeySet([scittKey(ledger)]), 1024) as Map<number, unknown>[];
    expect(set).toHaveLength(1);
    expect([...(set[0] as Map<number, unknown>).entries()]).toEqual([[1, 1], [2, fromHex(ledger.keyId)], [3, -8], [-1, 6], [-2, ledger.publicKey]]);
  });

  it('a key chain as a key set: each key with the tree sizes it signs; a receipt picks its key by kid and tree_size', () => {
    const entries = Array.from({ length: 9 }, (_, i) => utf8(`entry ${i}`));
    const tree = treeOf(entries);
    // The old key signs trees of 0..5 leaves, the new one from 6 on (a rotation at leaf 5, §13.1).
    const chain = [{ ...scittKey(other), validity: { from: 0, until: 5 } }, { ...scittKey(ledger), validity: { from: 6, until: null } }];
    const bytes = coseKeySet(chain);
    const set = decodeCbor(bytes, 4096) as Map<number, unknown>[];
    expect(set[0]?.get(KEY_VALID_FROM)).toBe(0);
    expect(set[0]?.get(KEY_VALID_UNTIL)).toBe(5);
    expect(set[1]?.has(KEY_VALID_UNTIL)).toBe(false);
    const parsed = parseScittKeySet(bytes);
    expect(parsed.map((k) => k.validity)).toEqual([{ from: 0, until: 5 }, { from: 6, until: null }]);

    const early = receiptFor(tree, entries, 2, 5, other);
    expect(toHex(scittKeyForReceipt(parsed, early).kid)).toBe(other.keyId);
    expect(verifyReceipt(early, entries[2] as Uint8Array, scittKeyForReceipt(parsed, early)).size).toBe(5);
    const late = receiptFor(tree, entries, 2, 9, ledger);
    expect(toHex(scittKeyForReceipt(parsed, late).kid)).toBe(ledger.keyId);
    // The old key over a tree it no longer signs, and a kid the set does not hold: refused.
    expect(codeOf(() => scittKeyForReceipt(parsed, receiptFor(tree, entries, 2, 9, other)))).toBe('RECEIPT_KEY_UNKNOWN');
    expect(codeOf(() => scittKeyForReceipt(parsed.slice(1), early))).toBe('RECEIPT_KEY_UNKNOWN');
    // A key without validity (pinned directly) is valid at any size; a malformed range is a format error.
    expect(parseScittKeySet(coseKeySet([scittKey(ledger)]))[0]).not.toHaveProperty('validity');
    const bad = (entries: [number, unknown][]) => encodeCbor([new Map<number, unknown>([[1, 1], [2, fromHex(ledger.keyId)], [3, -8], [-1, 6], [-2, ledger.publicKey], ...entries])]);
    expect(codeOf(() => parseScittKeySet(bad([[KEY_VALID_FROM, 6], [KEY_VALID_UNTIL, 5]])))).toBe('RECEIPT_FORMAT_ERROR');
    expect(codeOf(() => parseScittKeySet(bad([[KEY_VALID_UNTIL, 5]])))).toBe('RECEIPT_FORMAT_ERROR');
    expect(codeOf(() => parseScittKeySet(bad([[KEY_VALID_FROM, -1]])))).toBe('RECEIPT_FORMAT_ERROR');
    expect(codeOf(() => parseScittKeySet(utf8('not cbor at all')))).toBe('RECEIPT_FORMAT_ERROR');
  });
});

describe('Transparent Statements (RFC 9943)', () => {
  const serial = 'SN-0001';
  const provenanceSha256 = portableCrypto.sha256(utf8('{"format":"flashtrail.provenance.v2"}'));

  function registered(statement: Uint8Array, subject = serial, signer = ledger) {
    const registeredBytes = registeredForm(statement);
    const event = { id: '018f0000-0000-7000-8000-000000000001', type: 'ScittStatementRegistered', schemaVersion: 1, occurredAt: '2026-12-02T00:00:00.000Z', source: { kind: 'ledger', id: 'ledger' }, prev: null, data: { serial: subject, statementSha256: toHex(portableCrypto.sha256(registeredBytes)), provenanceSha256: toHex(provenanceSha256), statement: toBase64(registeredBytes) } };
    return envelopeBytes(signEnvelope('application/vnd.flashtrail.event.v1+json', canonicalBytes(event), signer));
  }

  function transparent(statement: Uint8Array, entry: Uint8Array): Uint8Array {
    const entries = [utf8('before'), entry, utf8('after')];
    return transparentStatement(statement, receiptFor(treeOf(entries), entries, 1), entry);
  }

  const statement = signStatement({ issuer: ORIGIN, subject: serial, provenanceSha256, location: `/v1/units/${serial}/statement/provenance` }, scittSigner(ledger));
  const keys = { issuer: scittKey(ledger), ledger: scittKey(ledger) };

  it('verifies a registered statement with its receipt, and names subject, digest and tree', () => {
    const ts = transparent(statement, registered(statement));
    const verified = verifyTransparentStatement(ts, keys);
    expect(verified).toMatchObject({ issuer: ORIGIN, subject: serial, provenanceSha256: toHex(provenanceSha256), receipt: { index: 1, size: 3 } });
    expect(toHex(registeredForm(ts))).toBe(toHex(statement));
    expect(decodeSign1(ts).unprotectedHeader.has(ENTRY_LABEL)).toBe(true);
  });

  it('refuses a changed payload, another issuer key, an entry of another statement or subject, and a bad receipt', () => {
    const entry = registered(statement);
    const m = decodeSign1(transparent(statement, entry));
    const changed = Uint8Array.from(m.payload as Uint8Array);
    changed[0] = (changed[0] as number) ^ 1;
    expect(codeOf(() => verifyTransparentStatement(encodeSign1({ ...m, payload: changed }), keys))).toBe('STATEMENT_SIGNATURE_ERROR');
    expect(codeOf(() => verifyTransparentStatement(transparent(statement, entry), { ...keys, issuer: scittKey(other) }))).toBe('STATEMENT_SIGNATURE_ERROR');
    const another = signStatement({ issuer: ORIGIN, subject: serial, provenanceSha256: new Uint8Array(32), location: 'x' }, scittSigner(ledger));
    expect(codeOf(() => verifyTransparentStatement(transparent(statement, registered(another)), keys))).toBe('STATEMENT_NOT_REGISTERED');
    expect(codeOf(() => verifyTransparentStatement(transparent(statement, registered(statement, 'SN-0002')), keys))).toBe('STATEMENT_NOT_REGISTERED');
    expect(codeOf(() => verifyTransparentStatement(transparent(statement, registered(statement, serial, other)), keys))).toBe('STATEMENT_NOT_REGISTERED');
    const entries = [utf8('before'), entry, utf8('after')];
    const wrongLeaf = transparentStatement(statement, receiptFor(treeOf(entries), entries, 0), entry);
    expect(codeOf(() => verifyTransparentStatement(wrongLeaf, keys))).toBe('RECEIPT_PROOF_ERROR');
    expect(codeOf(() => verifyTransparentStatement(statement, keys))).toBe('STATEMENT_FORMAT_ERROR');
  });
});
