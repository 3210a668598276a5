/**
 * Builds a unit's self-contained provenance document, format flashtrail.provenance.v2 (docs/format.md §6;
 * src/verify/provenance.ts for what it proves): the unit's events, the trust records, the streams of the
 * stations that signed them, and the BatchOpened and ReleaseApproved the unit depends on, in log order.
 */
import type { Ledger, StoredEvent } from '../write/pipeline.ts';
import type { LedgerLog } from '../read/ledger-log.ts';
import type { Checkpointer } from '../write/checkpointer.ts';
import { batchStream, LEDGER_KEY_ROTATIONS_STREAM, LEDGER_TRUST_STREAM, releaseStream, stationStream, unitStream } from '../event/streams.ts';
import { formatTlogProof, parseCheckpointBody, type Checkpoint } from '../tlog/checkpoint.ts';
import { parseNote } from '../tlog/note.ts';
import { PROVENANCE_FORMAT_V2, type ProvenanceDocument, type ProvenanceEntry } from '../verify/provenance.ts';
import { LedgerError } from '../write/errors.ts';
import type { Hash } from '../merkle/hash.ts';
import { PROVENANCE_FORMAT_V3, provenanceStatementOf } from '../verify/provenance-statement.ts';
import { nativeCrypto, toBase64Native } from '../native/crypto.ts';
import { canonicalize, type KnownCanonical } from '../crypto/jcs.ts';
import { fromUtf8, toHex } from '../crypto/encoding.ts';
import { signStatement, type StatementKeys } from './statement.ts';
import { inclusionProofs } from './shared-proofs.ts';

/**
 * The RFC 8785 text of each entry of a document built here, made as the entry is (its envelope as the canonical
 * text the store keeps, the bytes it hashed into the log; the checkpoint note that ends every proof escaped once per
 * document): the statement's digest splices these in rather than walking every entry again. Held by the entry
 * object itself, so an entry built elsewhere is simply canonicalized.
 */
const canonicalEntryTexts = new WeakMap<object, string>();

/**
 * The signed document the ledger serves, flashtrail.provenance.v3 (docs/format.md §6.7): the v2 document's members,
 * and the ledger's statement (Ed25519 + ML-DSA-44) over all of them, so that an entry removed, or a document cut
 * short, no longer verifies.
 */
export function signProvenance(doc: ProvenanceDocument, keys: StatementKeys, origin: string): ProvenanceDocument {
  return signProvenanceBytes(doc, keys, origin).document;
}

/**
 * signProvenance, with the signed document's RFC 8785 bytes, which is what the API serves: the digest the statement
 * signs is of those bytes without the statement, and `statement` sorts after every other member (RFC 8785 §3.2.3),
 * so the document is serialized once, hashed, and the statement appended (no second serialization, no re-encoding).
 */
export function signProvenanceBytes(doc: ProvenanceDocument, keys: StatementKeys, origin: string): { document: ProvenanceDocument; bytes: Uint8Array<ArrayBuffer> } {
  const { statement: _unsigned, ...rest } = doc;
  const document = { ...rest, format: PROVENANCE_FORMAT_V3 as typeof PROVENANCE_FORMAT_V3 };
  const last = Object.keys(document).sort().at(-1) as string;
  if (last >= 'statement') throw new RangeError(`a provenance document member ${last} would sort after its statement`);
  const known: KnownCanonical = new Map(document.entries.flatMap((e) => (canonicalEntryTexts.has(e) ? [[e, canonicalEntryTexts.get(e) as string] as const] : [])));
  const unsigned = Buffer.from(canonicalize(document, undefined, known), 'utf8');
  const checkpoint = checkpointOf(document.checkpoint);
  const statementOf = provenanceStatementOf(document, origin, checkpoint, nativeCrypto, toHex(nativeCrypto.sha256(unsigned)));
  const statement = signStatement(statementOf, keys);
  // An ArrayBuffer's view (Buffer.concat allocates in Node's own heap, never in shared memory).
  const bytes = Buffer.concat([unsigned.subarray(0, unsigned.length - 1), Buffer.from(`,"statement":${canonicalize(statement)}}`, 'utf8')]) as Uint8Array<ArrayBuffer>;
  return { document: { ...document, statement }, bytes };
}

/**
 * The document against the latest checkpoint (signing one when the latest does not cover the unit), or,
 * with `at`, against that checkpoint: then only the records the tree of its size holds count, so the same
 * note gives the same document for as long as the log is kept (a registered SCITT statement digests it).
 */
export async function buildProvenance(deps: { ledger: Ledger; log: LedgerLog; checkpointer: Checkpointer }, serial: string, at?: string): Promise<ProvenanceDocument | null> {
  const { ledger, log, checkpointer } = deps;
  const unitEvents = await ledger.readStream(unitStream(serial));
  if (unitEvents.length === 0) return null;
  const stationIds = [...new Set(unitEvents.map((e) => e.event.source.id))].sort();
  const stationEvents = (await Promise.all(stationIds.map((id) => ledger.readStream(stationStream(id))))).flat();
  // The chain of ledger keys (docs/format.md §5.4) is trust too: a verifier pinned to an older key follows it.
  const trustEvents = [...(await ledger.readStream(LEDGER_TRUST_STREAM)), ...(await ledger.readStream(LEDGER_KEY_ROTATIONS_STREAM))];
  const scans = unitEvents.filter((e) => e.event.type === 'UnitScanned');
  const batchId = scans.length > 0 ? (scans[scans.length - 1] as StoredEvent & { event: { data: { batchId: string } } }).event.data.batchId : null;
  const batchOpened = batchId ? (await ledger.readStream(batchStream(batchId))).slice(0, 1) : [];
  const opened = batchOpened[0]?.event;
  const releaseApproved = opened?.type === 'BatchOpened' ? (await ledger.readStream(releaseStream(opened.data.releaseId))).slice(0, 1) : [];

  const positions = [...trustEvents, ...stationEvents, ...batchOpened, ...releaseApproved, ...unitEvents].map((e) => e.recorded.position);
  // The log's writer (on its own thread) is asked to catch up only when it has not reached an event read here:
  // a round trip to it on every document is most of what a document waits for once the log is current.
  let leaves = await log.leavesOfPositions(positions);
  if (leaves.size < new Set(positions).size) {
    await log.catchUp();
    leaves = await log.leavesOfPositions(positions);
  }
  const withLeaves = (role: ProvenanceEntry['role'], events: StoredEvent[]) =>
    events.map((e) => {
      const leaf = leaves.get(e.recorded.position);
      if (!leaf) throw new LedgerError('UNAVAILABLE', `event ${e.event.id} is not in the Merkle log yet (the log writer has not reached it); retry shortly`);
      return { role, e, leafIndex: leaf.index };
    });
  const all = [
    ...withLeaves('trust', trustEvents),
    ...withLeaves('station', stationEvents),
    ...withLeaves('batch', batchOpened),
    ...withLeaves('release', releaseApproved),
    ...withLeaves('unit', unitEvents),
  ].sort((a, b) => a.leafIndex - b.leafIndex);
  let note: string;
  if (at !== undefined) {
    note = at;
    const atSize = checkpointSize(note);
    all.splice(0, all.length, ...all.filter((x) => x.leafIndex < atSize));
    if (!all.some((x) => x.role === 'unit')) return null;
  } else {
    const needed = (all[all.length - 1] as { leafIndex: number }).leafIndex + 1;
    note = await checkpointer.latest();
    if (checkpointSize(note) < needed) note = await checkpointer.issue();
  }
  const size = checkpointSize(note);
  // Together: a unit's events, appended together, share all but the lowest levels of their paths, and the trust,
  // station, batch and release records at the start of the log share theirs (src/evidence/shared-proofs.ts).
  const proofs = await inclusionProofs(log, all.map((x) => x.leafIndex), size, nativeCrypto);
  const noteJson = canonicalize(note);
  return {
    format: PROVENANCE_FORMAT_V2,
    serial,
    checkpoint: note,
    entries: all.map(({ role, e, leafIndex }) => {
      // A tlog-proof ends with its checkpoint note: the text before it, then the note.
      const head = formatTlogProof({ index: leafIndex, proof: proofs.get(leafIndex) as Hash[], checkpoint: '' }, toBase64Native);
      const entry = { role, leafIndex, envelope: e.envelope, proof: head + note };
      // Members in code-unit order (envelope, leafIndex, proof, role); JSON.stringify is RFC 8785's string form.
      canonicalEntryTexts.set(entry, `{"envelope":${fromUtf8(e.bytes)},"leafIndex":${leafIndex},"proof":${JSON.stringify(head).slice(0, -1)}${noteJson.slice(1)},"role":${JSON.stringify(role)}}`);
      return entry;
    }),
  };
}

export function checkpointSize(note: string): number {
  return checkpointOf(note).size;
}

/**
 * The checkpoint a note signs, parsed once per note: a document asks for it four or five times, and every document
 * of a checkpoint asks of the same note (parsing decodes its ML-DSA-44 signature line, 3 KB of base64, each time).
 */
function checkpointOf(note: string): Checkpoint {
  if (lastParsed?.note !== note) lastParsed = { note, checkpoint: parseCheckpointBody(parseNote(note).text) };
  return lastParsed.checkpoint;
}
let lastParsed: { note: string; checkpoint: Checkpoint } | null = null;
