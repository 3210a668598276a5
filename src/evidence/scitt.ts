/**
 * The ledger as a SCITT Transparency Service (RFC 9943) over its own Merkle log:
 *   - a COSE Receipt (RFC 9942) for any logged entry, at the size of the newest signed checkpoint that holds it;
 *   - per shipped unit, a Signed Statement by the ledger as manufacturer (subject: the serial; payload: the
 *     SHA-256 of the unit's provenance document), registered once as a ScittStatementRegistered event, and
 *     served as a Transparent Statement with the receipt of that registration embedded.
 * The formats are src/scitt's and docs/format.md §13's; this module only fetches from the ledger and signs.
 */
import type { Ledger, StoredEvent } from '../write/pipeline.ts';
import type { LedgerLog } from '../read/ledger-log.ts';
import type { Checkpointer } from '../write/checkpointer.ts';
import type { EventStore } from '../store/event-store.ts';
import { WrongExpectedVersionError } from '../store/event-store.ts';
import { LedgerError } from '../write/errors.ts';
import { ledgerStatementStream, unitStream } from '../event/streams.ts';
import { canonicalBytes } from '../crypto/jcs.ts';
import { fromBase64, fromHex, toBase64, toHex } from '../crypto/encoding.ts';
import { sign, type Signer } from '../crypto/ed25519.ts';
import { nativeCrypto } from '../native/crypto.ts';
import { coseKeySet, issueReceipt, type KeyValidity, type ScittKey, type ScittSigner } from '../scitt/receipt.ts';
import { signStatement, transparentStatement } from '../scitt/statement.ts';
import { ALG } from '../scitt/cose.ts';
import { buildProvenance, checkpointSize } from './provenance.ts';
import type { ProvenanceDocument } from '../verify/provenance.ts';

export interface ScittDeps {
  readonly ledger: Ledger;
  readonly store: EventStore;
  readonly log: LedgerLog;
  readonly checkpointer: Checkpointer;
  readonly ledgerKey: Signer;
  readonly origin: string;
  readonly clock?: () => Date;
}

/** The ledger key as the COSE signer of receipts and statements (kid: its key id, SHA-256 of the public key). */
export function ledgerScittSigner(key: Signer): ScittSigner {
  return { kid: fromHex(key.keyId), alg: ALG.EdDSA, sign: (toBeSigned) => sign(toBeSigned, key.secretKey) };
}

export function ledgerScittKey(key: Pick<Signer, 'keyId' | 'publicKey'>, validity?: KeyValidity): ScittKey {
  return { kid: fromHex(key.keyId), alg: ALG.EdDSA, publicKey: key.publicKey, ...(validity ? { validity } : {}) };
}

/**
 * The COSE_KeySet of `/.well-known/scitt-keys` (docs/format.md §13.1): every key of the ledger's Ed25519 key chain,
 * oldest first, each with the tree sizes it signs, so a receipt by a key since rotated out is still checked by it.
 */
export async function ledgerKeySet(deps: Pick<ScittDeps, 'checkpointer'>): Promise<Uint8Array> {
  return coseKeySet((await deps.checkpointer.ledgerKeyChain()).map((k) => ledgerScittKey(k.key, k.validity)));
}

/** Where a unit's statement and the provenance document it digests are served (relative to the API). */
export const statementPath = (serial: string) => `/statements/${encodeURIComponent(serial)}`;

/**
 * The receipt of the entry at a leaf index: proved in the tree of the newest signed checkpoint, after signing
 * one when the newest does not hold the leaf yet (as provenance documents do). Null when the log has no such leaf.
 */
export async function receiptAt(deps: ScittDeps, index: number): Promise<{ receipt: Uint8Array; size: number } | null> {
  const { log, checkpointer } = deps;
  await log.catchUp();
  if (index >= (await log.size())) return null;
  let note = await checkpointer.latest();
  if (checkpointSize(note) <= index) note = await checkpointer.issue();
  const size = checkpointSize(note);
  const receipt = issueReceipt(
    { issuer: deps.origin, leaf: await log.leafHashAt(index), index, size, path: await log.inclusionProof(index, size), root: await log.root(size) },
    // By the checkpoint's own key (docs/format.md §5.4): mid-rotation on a shared log, maybe the replaced one.
    ledgerScittSigner((await checkpointer.statementKeysFor(note)).ledgerKey),
    nativeCrypto,
  );
  return { receipt, size };
}

/** The registration of a unit's statement, made on first request once the unit is shipped; null before. */
export async function registeredStatement(deps: ScittDeps, unitSerial: string): Promise<StoredEvent | null> {
  const stream = ledgerStatementStream(unitSerial);
  for (let attempt = 1; ; attempt++) {
    const [existing] = await deps.ledger.readStream(stream);
    if (existing) return existing;
    const unitEvents = await deps.ledger.readStream(unitStream(unitSerial));
    if (!unitEvents.some((e) => e.event.type === 'UnitShipped')) return null;
    // The document is fixed by the checkpoint it is proved against: rebuilt with `at`, it has these bytes forever.
    const current = await buildProvenance(deps, unitSerial);
    if (!current) return null;
    const doc = (await buildProvenance(deps, unitSerial, current.checkpoint)) as ProvenanceDocument;
    const provenanceSha256 = nativeCrypto.sha256(canonicalBytes(doc));
    const { ledgerKey } = await deps.checkpointer.statementKeysFor(doc.checkpoint);
    const statement = signStatement({ issuer: deps.origin, subject: unitSerial, provenanceSha256, location: `${statementPath(unitSerial)}/provenance` }, ledgerScittSigner(ledgerKey));
    const data = { serial: unitSerial, statementSha256: toHex(nativeCrypto.sha256(statement)), provenanceSha256: toHex(provenanceSha256), checkpoint: doc.checkpoint, statement: toBase64(statement) };
    try {
      // Signed by the key in force and appended under the rotation's lock (Checkpointer.appendRecord).
      await deps.checkpointer.appendRecord((signer) => signer.sign('ScittStatementRegistered', data, { prev: null }), null);
    } catch (error) {
      // Another request registered it first: serve that one.
      if (!(error instanceof WrongExpectedVersionError) || attempt >= 3) throw error;
    }
  }
}

/** A shipped unit's Transparent Statement, with the receipt of its registration; null before it shipped. */
export async function unitTransparentStatement(deps: ScittDeps, serial: string): Promise<Uint8Array | null> {
  const registration = await registeredStatement(deps, serial);
  if (!registration || registration.event.type !== 'ScittStatementRegistered') return null;
  await deps.log.catchUp();
  const leaf = await deps.log.leafOfPosition(registration.recorded.position);
  if (!leaf) throw new LedgerError('UNAVAILABLE', `the registration of ${serial}'s statement is not in the Merkle log yet (the log writer has not reached it); retry shortly`);
  const found = await receiptAt(deps, leaf.index);
  if (!found) throw new LedgerError('UNAVAILABLE', `leaf ${leaf.index} is not in the Merkle log yet; retry shortly`);
  return transparentStatement(fromBase64(registration.event.data.statement), found.receipt, registration.recorded.data);
}

/** The provenance document a unit's registered statement digests (JCS bytes, so its SHA-256 is the payload). */
export async function statementProvenance(deps: ScittDeps, serial: string): Promise<Uint8Array | null> {
  const [registration] = await deps.ledger.readStream(ledgerStatementStream(serial));
  if (!registration || registration.event.type !== 'ScittStatementRegistered') return null;
  const doc = await buildProvenance(deps, serial, registration.event.data.checkpoint);
  return doc ? canonicalBytes(doc) : null;
}
