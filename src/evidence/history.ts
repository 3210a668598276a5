/**
 * The completeness part of evidence (docs/format.md §15): a provenance document becomes flashtrail.provenance.v3
 * by carrying `history`, the unit's map proof and the index-log evidence, as of the document's own checkpoint.
 */
import type { Logger } from 'pino';
import { UnitMapError, type UnitMapIndex } from '../read/unit-map.ts';
import { PROVENANCE_FORMAT_V3, type ProvenanceDocument } from '../verify/provenance.ts';
import { LedgerError } from '../write/errors.ts';
import { buildProvenance, checkpointSize } from './provenance.ts';

/**
 * The unit's v3 document against the latest checkpoint: the v2 document and its history as of that checkpoint.
 * A map out of service (it found the log contradicting it: src/read/unit-map.ts) proves nothing, so the
 * document is then served without `history` (signed all the same), which claims no completeness.
 */
export async function buildProvenanceV3(deps: Parameters<typeof buildProvenance>[0] & { unitMap: UnitMapIndex; logger?: Logger }, serial: string): Promise<ProvenanceDocument | null> {
  const doc = await buildProvenance(deps, serial);
  return doc ? historyIfInService(doc, deps.unitMap, deps.logger) : null;
}

/** The v2 document with its history, or as it is (claiming no completeness) when the map is out of service. */
export async function historyIfInService(doc: ProvenanceDocument, unitMap: UnitMapIndex, logger?: Logger): Promise<ProvenanceDocument> {
  try {
    return await withHistory(doc, unitMap);
  } catch (error) {
    if (!(error instanceof UnitMapError)) throw error;
    logger?.error({ serial: doc.serial }, `provenance served without history: ${error.message}`);
    return doc;
  }
}

export async function withHistory(doc: ProvenanceDocument, unitMap: UnitMapIndex): Promise<ProvenanceDocument> {
  const size = checkpointSize(doc.checkpoint);
  const history = await unitMap.historyEvidence(doc.serial, size);
  if (!history) throw new LedgerError('UNAVAILABLE', `the unit history map has not committed checkpoint ${size} yet; retry shortly`);
  return { format: PROVENANCE_FORMAT_V3, serial: doc.serial, checkpoint: doc.checkpoint, entries: doc.entries, history };
}
