/**
 * Builds a unit's self-contained provenance document, format flashtrail.provenance.v2 (docs/format.md §6;
 * src/verify/provenance.ts for what it proves): the unit's events, the trust records, the streams of the
 * stations that signed them, and the BatchOpened and ReleaseApproved the unit depends on, in log order.
 */
import type { Ledger, StoredEvent } from '../write/pipeline.ts';
import type { LedgerLog } from '../read/ledger-log.ts';
import type { Checkpointer } from '../write/checkpointer.ts';
import { batchStream, LEDGER_KEY_ROTATIONS_STREAM, LEDGER_TRUST_STREAM, releaseStream, stationStream, unitStream } from '../event/streams.ts';
import { formatTlogProof, parseCheckpointBody } from '../tlog/checkpoint.ts';
import { parseNote } from '../tlog/note.ts';
import { PROVENANCE_FORMAT_V2, type ProvenanceDocument, type ProvenanceEntry } from '../verify/provenance.ts';
import { LedgerError } from '../write/errors.ts';
import { PROVENANCE_FORMAT_V3, provenanceStatementOf } from '../verify/provenance-statement.ts';
import { nativeCrypto } from '../native/crypto.ts';
import { signStatement, type StatementKeys } from './statement.ts';

/**
 * The signed document the ledger serves, flashtrail.provenance.v3 (docs/format.md §6.7): the v2 document's members,
 * and the ledger's statement (Ed25519 + ML-DSA-44) over all of them, so that an entry removed, or a document cut
 * short, no longer verifies.
 */
export function signProvenance(doc: ProvenanceDocument, keys: StatementKeys, origin: string): ProvenanceDocument {
  const { statement: _unsigned, ...rest } = doc;
  const document = { ...rest, format: PROVENANCE_FORMAT_V3 as typeof PROVENANCE_FORMAT_V3 };
  const checkpoint = parseCheckpointBody(parseNote(document.checkpoint).text);
  return { ...document, statement: signStatement(provenanceStatementOf(document, origin, checkpoint, nativeCrypto), keys) };
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

  await log.catchUp();
  const leaves = await log.leavesOfPositions([...trustEvents, ...stationEvents, ...batchOpened, ...releaseApproved, ...unitEvents].map((e) => e.recorded.position));
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
  return {
    format: PROVENANCE_FORMAT_V2,
    serial,
    checkpoint: note,
    entries: await Promise.all(
      all.map(async ({ role, e, leafIndex }) => ({
        role,
        leafIndex,
        envelope: e.envelope,
        proof: formatTlogProof({ index: leafIndex, proof: await log.inclusionProof(leafIndex, size), checkpoint: note }),
      })),
    ),
  };
}

export function checkpointSize(note: string): number {
  return parseCheckpointBody(parseNote(note).text).size;
}
