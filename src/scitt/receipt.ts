/**
 * COSE Receipts (RFC 9942) for the ledger's RFC 6962 Merkle log, verifiable data structure RFC9162_SHA256:
 *
 *   protected   { 1 (alg): -8 EdDSA, 4 (kid): ledger key id, 15 (CWT claims): { 1 (iss): origin, 2 (sub): hex leaf hash },
 *                 395 (vds): 1 RFC9162_SHA256 }
 *   unprotected { 396 (vdp): { -1 (inclusion proofs): [ bstr .cbor [tree_size, leaf_index, [+ bstr]] ] } }
 *   payload     nil: detached, the Merkle root the verifier computes from the proof
 *
 * The entry a receipt proves is the logged item itself (for flashtrail, an event's envelope bytes, docs/format.md
 * §4): leaf = SHA-256(0x00 || entry). A receipt is issued only at the size of a checkpoint the ledger signed, so
 * the root it signs is one the ledger has also committed to in a C2SP checkpoint.
 */
import type { CryptoBackend } from '../crypto/backend.ts';
import { portableCrypto } from '../crypto/backend.ts';
import { toHex, bytesEqual } from '../crypto/encoding.ts';
import { leafHash, type Hash } from '../merkle/hash.ts';
import { rootFromInclusionProof } from '../merkle/proofs.ts';
import { CborError, decodeCbor, encodeCbor } from './cbor.ts';
import type { ALG } from './cose.ts';
import { CWT, CoseError, HEADER, decodeSign1, signSign1, verifySign1, type CoseSign1, type HeaderMap } from './cose.ts';
import { ScittError } from './errors.ts';

/** RFC 9942 §3: the COSE Verifiable Data Structure RFC9162_SHA256 and its proof type. */
export const VDS_RFC9162_SHA256 = 1;
export const VDP_INCLUSION = -1;

/** RFC 9162 proofs of a tree of up to 2^64 leaves have at most 64 hashes. */
const MAX_PATH = 64;

/** A key a receipt or statement may be signed with, pinned by the verifier. */
export interface ScittKey {
  /** The COSE `kid`: flashtrail's key id, SHA-256 of the raw public key. */
  readonly kid: Uint8Array;
  readonly alg: typeof ALG.EdDSA;
  readonly publicKey: Uint8Array;
  /**
   * The ledger tree sizes whose receipts this key signs, as the key set serves them (docs/format.md §13.1): from
   * `from` to `until` inclusive, `until` null for the key in force now. Absent: any size (a key pinned directly).
   */
  readonly validity?: KeyValidity;
}

/** The tree sizes a key of the ledger's key chain signs checkpoints (and so receipts) of, inclusive. */
export interface KeyValidity {
  readonly from: number;
  readonly until: number | null;
}

export interface ScittSigner {
  readonly kid: Uint8Array;
  readonly alg: typeof ALG.EdDSA;
  sign(toBeSigned: Uint8Array): Uint8Array;
}

export interface ReceiptInput {
  /** The log's origin: the receipt's issuer (`iss`). */
  readonly issuer: string;
  readonly leaf: Hash;
  readonly index: number;
  readonly size: number;
  readonly path: readonly Hash[];
  /** The root of the tree of `size` leaves as the log holds it: the proof must yield it. */
  readonly root: Hash;
}

export function issueReceipt(input: ReceiptInput, signer: ScittSigner, crypto: CryptoBackend = portableCrypto): Uint8Array {
  const computed = rootFromInclusionProof(input.leaf, input.index, input.size, input.path, crypto);
  if (!computed || !bytesEqual(computed, input.root)) throw new RangeError(`the inclusion proof of leaf ${input.index} does not yield the root of tree ${input.size}`);
  const proof = encodeCbor([input.size, input.index, [...input.path]]);
  const protectedHeader: HeaderMap = new Map<number, unknown>([
    [HEADER.alg, signer.alg],
    [HEADER.kid, signer.kid],
    [HEADER.cwtClaims, new Map<number, unknown>([[CWT.iss, input.issuer], [CWT.sub, toHex(input.leaf)]])],
    [HEADER.vds, VDS_RFC9162_SHA256],
  ]);
  const unprotectedHeader: HeaderMap = new Map([[HEADER.vdp, new Map([[VDP_INCLUSION, [proof]]])]]);
  return signSign1({ protectedHeader, unprotectedHeader, payload: computed, detached: true }, (tbs) => signer.sign(tbs));
}

export interface VerifiedReceipt {
  readonly issuer: string;
  readonly index: number;
  readonly size: number;
  /** The root the proof yields and the ledger key signed. */
  readonly root: Hash;
}

const fail = (code: ConstructorParameters<typeof ScittError>[0], message: string): never => {
  throw new ScittError(code, message);
};

function decodeReceipt(receipt: Uint8Array): CoseSign1 {
  try {
    return decodeSign1(receipt, 'the receipt');
  } catch (error) {
    if (error instanceof CoseError) return fail('RECEIPT_FORMAT_ERROR', error.message);
    throw error;
  }
}

/** The key's verify function for the algorithm it is pinned with: strict RFC 8032 Ed25519. */
export function verifierOf(key: ScittKey, crypto: CryptoBackend): (signature: Uint8Array, message: Uint8Array) => boolean {
  return (signature, message) => crypto.verifyEd25519(signature, message, key.publicKey);
}

/** Checks the header's `alg` and `kid` against the pinned key (RFC 9052 §8: one algorithm per key). */
export function checkKey(header: HeaderMap, key: ScittKey, what: string, code: 'RECEIPT_KEY_UNKNOWN' | 'STATEMENT_SIGNATURE_ERROR'): void {
  const alg = header.get(HEADER.alg);
  if (alg !== key.alg) fail(code, `${what}: alg ${String(alg)} is not the pinned key's algorithm ${key.alg} (EdDSA)`);
  const kid = header.get(HEADER.kid);
  if (!(kid instanceof Uint8Array) || !bytesEqual(kid, key.kid)) fail(code, `${what}: kid ${kid instanceof Uint8Array ? toHex(kid) : String(kid)} is not the pinned key ${toHex(key.kid)}`);
}

/** The CWT claims of a protected header (label 15), with `iss` and `sub` text strings. */
export function cwtClaims(header: HeaderMap, what: string, code: 'RECEIPT_FORMAT_ERROR' | 'STATEMENT_FORMAT_ERROR'): { iss: string; sub: string } {
  const claims = header.get(HEADER.cwtClaims);
  if (!(claims instanceof Map)) return fail(code, `${what}: no CWT claims (protected header 15)`);
  const iss = claims.get(CWT.iss);
  const sub = claims.get(CWT.sub);
  if (typeof iss !== 'string' || iss.length === 0 || iss.length > 8192) fail(code, `${what}: the CWT claim iss (1) is not a text string of 1 to 8192 characters`);
  if (typeof sub !== 'string' || sub.length === 0 || sub.length > 8192) fail(code, `${what}: the CWT claim sub (2) is not a text string of 1 to 8192 characters`);
  return { iss: iss as string, sub: sub as string };
}

/** The receipt's one inclusion proof (396 → −1): `[tree_size, leaf_index, inclusion_path]`, its numbers checked. */
function inclusionProofOf(message: CoseSign1): { size: number; index: number; path: unknown } {
  const vdp = message.unprotectedHeader.get(HEADER.vdp);
  if (!(vdp instanceof Map) || vdp.size !== 1 || !vdp.has(VDP_INCLUSION)) fail('RECEIPT_FORMAT_ERROR', 'the receipt has no verifiable data structure proofs (396) with exactly the inclusion proofs (-1)');
  const proofs = (vdp as Map<number, unknown>).get(VDP_INCLUSION);
  if (!Array.isArray(proofs) || proofs.length !== 1 || !(proofs[0] instanceof Uint8Array)) fail('RECEIPT_FORMAT_ERROR', 'the receipt must carry exactly one inclusion proof, a byte string');
  let proof: unknown;
  try {
    proof = decodeCbor((proofs as Uint8Array[])[0] as Uint8Array, 4096);
  } catch (error) {
    if (error instanceof CborError) fail('RECEIPT_FORMAT_ERROR', `the inclusion proof is not CBOR: ${error.message}`);
    throw error;
  }
  if (!Array.isArray(proof) || proof.length !== 3) return fail('RECEIPT_FORMAT_ERROR', 'the inclusion proof is not [tree_size, leaf_index, inclusion_path]');
  const [size, index, path] = proof as unknown[];
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 1) fail('RECEIPT_FORMAT_ERROR', 'the inclusion proof\'s tree_size is not a positive integer');
  if (typeof index !== 'number' || !Number.isSafeInteger(index) || index < 0) fail('RECEIPT_FORMAT_ERROR', 'the inclusion proof\'s leaf_index is not a non-negative integer');
  return { size: size as number, index: index as number, path };
}

/**
 * Verifies a receipt for an entry (the logged bytes) against the pinned ledger key, in named steps: structure,
 * key, proof, signature over the root the proof yields.
 */
export function verifyReceipt(receipt: Uint8Array, entry: Uint8Array, key: ScittKey, crypto: CryptoBackend = portableCrypto): VerifiedReceipt {
  const message = decodeReceipt(receipt);
  const header = message.protectedHeader;
  if (message.payload !== null) fail('RECEIPT_FORMAT_ERROR', 'the receipt carries its payload; RFC9162_SHA256 receipts from flashtrail are detached (payload nil)');
  if (header.get(HEADER.vds) !== VDS_RFC9162_SHA256) fail('RECEIPT_FORMAT_ERROR', `the receipt's verifiable data structure (395) is ${String(header.get(HEADER.vds))}, not RFC9162_SHA256 (1)`);
  const { iss, sub } = cwtClaims(header, 'the receipt', 'RECEIPT_FORMAT_ERROR');
  checkKey(header, key, 'the receipt', 'RECEIPT_KEY_UNKNOWN');

  const { size, index, path } = inclusionProofOf(message);
  if (!Array.isArray(path) || path.length > MAX_PATH || !path.every((h) => h instanceof Uint8Array && h.length === 32)) fail('RECEIPT_FORMAT_ERROR', `the inclusion path is not an array of at most ${MAX_PATH} 32-byte hashes`);
  if (index >= size) fail('RECEIPT_PROOF_ERROR', `leaf_index ${String(index)} is not below tree_size ${String(size)} (RFC 9942 §5.2)`);

  const leaf = leafHash(entry, crypto);
  if (sub !== toHex(leaf)) fail('RECEIPT_PROOF_ERROR', `the receipt is for leaf ${sub.slice(0, 16)}…, not for this entry's leaf ${toHex(leaf).slice(0, 16)}…`);
  const root = rootFromInclusionProof(leaf, index, size, path as Uint8Array[], crypto);
  if (!root) return fail('RECEIPT_PROOF_ERROR', `the inclusion path of ${(path as unknown[]).length} hashes does not fit leaf ${String(index)} of a tree of ${String(size)}`);
  if (!verifySign1(message, verifierOf(key, crypto), root)) fail('RECEIPT_SIGNATURE_ERROR', `the ledger key's signature over the root of tree ${String(size)} that the proof of leaf ${String(index)} yields does not verify`);
  return { issuer: iss, index, size, root };
}

/** COSE key types and parameters (RFC 9053 §7.2): an OKP key on Ed25519. */
const KTY = 1;
const KTY_OKP = 1;
const KEY_KID = 2;
const KEY_ALG = 3;
const OKP_CRV = -1;
const OKP_X = -2;
const CRV_ED25519 = 6;

/**
 * Private-use COSE_Key labels (RFC 9052 §7.1: below −65536) carrying a key's validity in the ledger's key chain
 * (docs/format.md §13.1): the smallest and the largest tree size it signs. A COSE library that does not know them
 * ignores them and picks keys by kid, as SCRAPI's key set is meant to be used.
 */
export const KEY_VALID_FROM = -65537;
export const KEY_VALID_UNTIL = -65538;

/** The COSE_Key of a receipt-signing key, as served in the SCRAPI key set (`/.well-known/scitt-keys`). */
export function coseKey(key: ScittKey): Map<number, unknown> {
  const entries: [number, unknown][] = [
    [KTY, KTY_OKP],
    [KEY_KID, key.kid],
    [KEY_ALG, key.alg],
    [OKP_CRV, CRV_ED25519],
    [OKP_X, key.publicKey],
  ];
  if (key.validity) entries.push([KEY_VALID_FROM, key.validity.from]);
  if (key.validity && key.validity.until !== null) entries.push([KEY_VALID_UNTIL, key.validity.until]);
  return new Map(entries);
}

/** The keys of a key set this large at most: a chain of rotations is a handful. */
const MAX_KEY_SET_BYTES = 64 * 1024;

const isTreeSize = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/**
 * The Ed25519 keys of a COSE_KeySet as `/.well-known/scitt-keys` serves them, with their validity when it carries
 * one. Keys of other types are skipped (a key set may hold more than flashtrail signs with); a key that claims to be
 * an EdDSA Ed25519 key and is malformed is `RECEIPT_FORMAT_ERROR`, naming its position.
 */
export function parseScittKeySet(bytes: Uint8Array): ScittKey[] {
  let decoded: unknown;
  try {
    decoded = decodeCbor(bytes, MAX_KEY_SET_BYTES);
  } catch (error) {
    if (error instanceof CborError) fail('RECEIPT_FORMAT_ERROR', `the key set is not CBOR: ${error.message}`);
    throw error;
  }
  if (!Array.isArray(decoded)) return fail('RECEIPT_FORMAT_ERROR', 'the key set is not a COSE_KeySet (an array of COSE_Keys)');
  const keys: ScittKey[] = [];
  for (const [i, key] of (decoded as unknown[]).entries()) {
    if (!(key instanceof Map) || key.get(KTY) !== KTY_OKP || key.get(OKP_CRV) !== CRV_ED25519 || key.get(KEY_ALG) !== -8) continue;
    const kid: unknown = key.get(KEY_KID);
    const x: unknown = key.get(OKP_X);
    if (!(kid instanceof Uint8Array) || kid.length !== 32 || !(x instanceof Uint8Array) || x.length !== 32) return fail('RECEIPT_FORMAT_ERROR', `key ${i} of the key set: kid (2) and x (-2) must be 32-byte strings`);
    const from: unknown = key.get(KEY_VALID_FROM);
    const until: unknown = key.get(KEY_VALID_UNTIL);
    if (from === undefined && until === undefined) {
      keys.push({ kid, alg: -8, publicKey: x });
      continue;
    }
    if (!isTreeSize(from) || (until !== undefined && (!isTreeSize(until) || until < from))) {
      return fail('RECEIPT_FORMAT_ERROR', `key ${i} of the key set: its validity (labels ${KEY_VALID_FROM}, ${KEY_VALID_UNTIL}) is not a range of tree sizes`);
    }
    keys.push({ kid, alg: -8, publicKey: x, validity: { from, until: isTreeSize(until) ? until : null } });
  }
  return keys;
}

/**
 * The key of a key set that signed a receipt: the one its kid names, valid at its tree_size (`RECEIPT_KEY_UNKNOWN`
 * otherwise, naming the kid and the sizes). Which keys a relying party trusts is its own decision (§13.1: it pins
 * the ledger key and follows its chain); this only picks among those it was given.
 */
export function scittKeyForReceipt(keys: readonly ScittKey[], receipt: Uint8Array): ScittKey {
  const message = decodeReceipt(receipt);
  const kid = message.protectedHeader.get(HEADER.kid);
  if (!(kid instanceof Uint8Array)) return fail('RECEIPT_FORMAT_ERROR', 'the receipt has no kid (4) byte string');
  const { size } = inclusionProofOf(message);
  const named = keys.filter((k) => bytesEqual(k.kid, kid));
  const first = named[0];
  if (!first) return fail('RECEIPT_KEY_UNKNOWN', `the receipt's kid ${toHex(kid)} is not a key of the key set (${keys.length} key(s))`);
  const valid = named.find((k) => !k.validity || (size >= k.validity.from && (k.validity.until === null || size <= k.validity.until)));
  if (valid) return valid;
  const v = first.validity as KeyValidity;
  return fail('RECEIPT_KEY_UNKNOWN', `the receipt's key ${toHex(kid)} signs trees of ${v.from} to ${v.until ?? 'now'} leaves, not its tree_size ${size}`);
}

/** A COSE_KeySet (RFC 9052 §7): an array of COSE_Keys. */
export function coseKeySet(keys: readonly ScittKey[]): Uint8Array {
  return encodeCbor(keys.map(coseKey));
}
