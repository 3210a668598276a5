/**
 * Offline verification of a unit's provenance document, as one pipeline of named steps. Each step throws a
 * VerificationError with a code, so a report says exactly what failed and where. Pure: no Node-only APIs;
 * the Ed25519 verifier is injected (node's native one in the CLI, the portable one in a browser).
 *
 * Steps: format → checkpoint → envelopes → trust → stations → unit → inclusion.
 * Trust starts from one pinned key, the ledger's: it signs the checkpoint and the AdminKeysTrusted events;
 * the administrator keys they name sign station key registrations; those keys sign the unit's events.
 * Key validity is judged by position in the log: a key counts for an event if its registration precedes
 * the event in the log and no revocation does.
 */
import type { DsseEnvelope } from '../crypto/dsse.ts';
import { toHex } from '../crypto/encoding.ts';
import { portableCrypto, type CryptoBackend } from '../crypto/backend.ts';
import type { Hash } from '../merkle/hash.ts';
import { parseCheckpointBody, parseTlogProof, type Checkpoint } from '../tlog/checkpoint.ts';
import { checkInclusion, decodeEntry, establishKeys, fail, verifyUnitEvents, type Decoded } from './steps.ts';
import { verifyNote, type NoteKey } from '../tlog/note.ts';
import { VerificationError } from './errors.ts';

export const PROVENANCE_FORMAT = 'flashtrail.provenance.v1';

export interface ProvenanceEntry {
  readonly role: 'trust' | 'station' | 'unit';
  readonly leafIndex: number;
  readonly envelope: DsseEnvelope;
  /** C2SP tlog-proof text proving the envelope at leafIndex under the document's checkpoint. */
  readonly proof: string;
}

export interface ProvenanceDocument {
  readonly format: typeof PROVENANCE_FORMAT;
  readonly serial: string;
  readonly checkpoint: string;
  readonly entries: readonly ProvenanceEntry[];
}

export interface StepReport {
  readonly step: string;
  readonly detail: string;
}

export interface ProvenanceReport {
  readonly serial: string;
  readonly checkpoint: { origin: string; size: number; root: string };
  readonly events: number;
  readonly stations: string[];
  readonly firmware: { bootloader: string[]; application: string[] };
  readonly steps: StepReport[];
}


export function verifyProvenance(input: unknown, ledgerKey: NoteKey, crypto: CryptoBackend = portableCrypto): ProvenanceReport {
  const steps: StepReport[] = [];
  const done = (step: string, detail: string) => steps.push({ step, detail });

  const doc = checkShape(input);
  done('format', `${PROVENANCE_FORMAT} for unit ${doc.serial}, ${doc.entries.length} entries`);

  const checkpoint = checkCheckpoint(doc.checkpoint, ledgerKey, crypto);
  done('checkpoint', `signed by ${ledgerKey.name} (${ledgerKey.id}): tree size ${checkpoint.size}, root ${toHex(checkpoint.root).slice(0, 16)}…`);

  const decoded = doc.entries.map((entry, position) => decodeEntry(entry.role, entry.leafIndex, entry.envelope, position, crypto));
  done('envelopes', `${decoded.length} DSSE envelopes decoded`);

  const trust = decoded.filter((d) => d.role === 'trust');
  const stationEntries = decoded.filter((d) => d.role === 'station');
  const lives = establishKeys(trust, stationEntries, ledgerKey, crypto);
  done('trust', `${trust.length} AdminKeysTrusted record(s) signed by the ledger key`);
  done('stations', `${stationEntries.length} station events signed by trusted administrator keys; ${lives.size} station key(s)`);

  // The unit's own events, in the order the document gives (its stream order).
  const unit = decoded.filter((d) => d.role === 'unit');
  if (unit.length === 0) throw new VerificationError('FORMAT_ERROR', 'unit', 'the document holds no unit events');
  const summary = verifyUnitEvents(doc.serial, unit, lives, crypto);
  done('unit', `${unit.length} events of ${doc.serial}: signatures valid (RFC 8032 strict), keys registered and unrevoked, hash chain unbroken`);

  // Last, the log: every envelope above is the leaf it claims to be in the checkpointed tree.
  decoded.forEach((d, i) => checkInclusion(d, tlogProofHashes(d, (doc.entries[i] as ProvenanceEntry).proof, doc.checkpoint), checkpoint, crypto));
  done('inclusion', `${decoded.length} inclusion proofs verify against the checkpoint (RFC 9162 §2.1.3.2)`);

  return {
    serial: doc.serial,
    checkpoint: { origin: checkpoint.origin, size: checkpoint.size, root: toHex(checkpoint.root) },
    events: unit.length,
    stations: summary.stations,
    firmware: { bootloader: summary.bootloader, application: summary.application },
    steps,
  };
}

/** The hashes of an entry's C2SP tlog-proof, which must be for its leaf and against the document's checkpoint. */
function tlogProofHashes(d: Decoded, text: string, note: string): Hash[] {
  let proof;
  try {
    proof = parseTlogProof(text);
  } catch (error) {
    throw fail('INCLUSION_PROOF_ERROR', 'inclusion', d, `proof is not a c2sp tlog-proof: ${(error as Error).message}`);
  }
  if (proof.index !== d.leafIndex) throw fail('INCLUSION_PROOF_ERROR', 'inclusion', d, `proof is for leaf ${proof.index}, entry claims ${d.leafIndex}`);
  if (proof.checkpoint !== note) throw fail('INCLUSION_PROOF_ERROR', 'inclusion', d, 'proof is against another checkpoint than the document');
  return proof.proof;
}

function checkShape(input: unknown): ProvenanceDocument {
  const doc = input as Partial<ProvenanceDocument> | null;
  const ok =
    doc !== null &&
    typeof doc === 'object' &&
    doc.format === PROVENANCE_FORMAT &&
    typeof doc.serial === 'string' &&
    typeof doc.checkpoint === 'string' &&
    Array.isArray(doc.entries) &&
    doc.entries.every(
      (e) =>
        e !== null &&
        typeof e === 'object' &&
        ['trust', 'station', 'unit'].includes(e.role) &&
        Number.isSafeInteger(e.leafIndex) &&
        typeof e.proof === 'string' &&
        typeof e.envelope === 'object' &&
        e.envelope !== null,
    );
  if (!ok) throw new VerificationError('FORMAT_ERROR', 'format', `not a ${PROVENANCE_FORMAT} document`);
  return doc as ProvenanceDocument;
}

export function checkCheckpoint(note: string, ledgerKey: NoteKey, crypto: CryptoBackend): Checkpoint {
  let text: string;
  try {
    text = verifyNote(note, [ledgerKey], crypto).text;
  } catch (error) {
    throw new VerificationError('CHECKPOINT_SIGNATURE_ERROR', 'checkpoint', `checkpoint is not signed by the pinned ledger key ${ledgerKey.name}: ${(error as Error).message}`);
  }
  let checkpoint: Checkpoint;
  try {
    checkpoint = parseCheckpointBody(text);
  } catch (error) {
    throw new VerificationError('FORMAT_ERROR', 'checkpoint', (error as Error).message);
  }
  if (checkpoint.origin !== ledgerKey.name) {
    throw new VerificationError('CHECKPOINT_ORIGIN_ERROR', 'checkpoint', `checkpoint origin ${checkpoint.origin} is not the ledger ${ledgerKey.name}`);
  }
  return checkpoint;
}




