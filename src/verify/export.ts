/**
 * Verification of a signed traceability export, record by record (pure: no Node-only APIs). The streaming
 * driver that reads the file and spreads unit records over worker threads is src/cli/verify-export.ts.
 */
import type { DsseEnvelope } from '../crypto/dsse.ts';
import { verifyEnvelopeSignature } from '../crypto/dsse.ts';
import { fromBase64, fromUtf8 } from '../crypto/encoding.ts';
import type { CryptoBackend } from '../crypto/backend.ts';
import type { Checkpoint } from '../tlog/checkpoint.ts';
import type { NoteKey } from '../tlog/note.ts';
import { VerificationError } from './errors.ts';
import { checkInclusion, decodeEntry, verifyUnitEvents, type KeyLives, type UnitSummary } from './steps.ts';
import { EXPORT_FORMAT, EXPORT_PREDICATE_TYPE, IN_TOTO_PAYLOAD_TYPE, IN_TOTO_STATEMENT_TYPE, type ExportRecord, type InTotoStatement } from './export-format.ts';

export type UnitRecord = Extract<ExportRecord, { record: 'unit' }>;

export interface UnitResult extends UnitSummary {
  readonly serial: string;
  readonly events: number;
}

/** One unit: every event signed by a live key, chained, in log order, and included under the checkpoint. */
export function verifyUnitRecord(record: UnitRecord, line: number, lives: KeyLives, checkpoint: Checkpoint, crypto: CryptoBackend): UnitResult {
  try {
    if (typeof record.serial !== 'string' || !Array.isArray(record.events) || record.events.length === 0) {
      throw new VerificationError('FORMAT_ERROR', 'unit', `line ${line}: a unit record needs a serial and its events`);
    }
    const decoded = record.events.map((e, i) => decodeEntry('unit', e.leafIndex, e.envelope, i));
    const summary = verifyUnitEvents(record.serial, decoded, lives, crypto);
    decoded.forEach((d, i) => {
      const proof = (record.events[i] as { proof: unknown }).proof;
      if (!Array.isArray(proof)) throw new VerificationError('INCLUSION_PROOF_ERROR', 'inclusion', `event ${i} has no proof`);
      checkInclusion(d, proof.map((p) => fromBase64(String(p))), checkpoint, crypto);
    });
    return { serial: record.serial, events: decoded.length, ...summary };
  } catch (error) {
    if (error instanceof VerificationError) {
      throw new VerificationError(error.code, error.step, `line ${line}, unit ${String(record.serial)}: ${error.message}`, { ...error.location, serial: String(record.serial), line });
    }
    throw new VerificationError('FORMAT_ERROR', 'unit', `line ${line}: ${(error as Error).message}`, { line });
  }
}

/** The closing statement: signed by the ledger key, an in-toto Statement v1 with our predicate. */
export function verifyStatement(envelope: DsseEnvelope, ledgerKey: NoteKey, crypto: CryptoBackend): InTotoStatement {
  if (envelope?.payloadType !== IN_TOTO_PAYLOAD_TYPE || !verifyEnvelopeSignature(envelope, ledgerKey.publicKey, crypto)) {
    throw new VerificationError('STATEMENT_SIGNATURE_ERROR', 'statement', `the export statement is not signed by the pinned ledger key ${ledgerKey.name}`);
  }
  const statement = JSON.parse(fromUtf8(fromBase64(envelope.payload))) as InTotoStatement;
  if (statement._type !== IN_TOTO_STATEMENT_TYPE || statement.predicateType !== EXPORT_PREDICATE_TYPE || statement.predicate?.format !== EXPORT_FORMAT) {
    throw new VerificationError('FORMAT_ERROR', 'statement', `the statement is not a ${EXPORT_PREDICATE_TYPE} in-toto Statement v1`);
  }
  return statement;
}
