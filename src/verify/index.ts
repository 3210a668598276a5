/**
 * Everything an offline verifier needs, with no Node-only dependencies (a browser page can import this).
 * The Ed25519 verifier defaults to the portable @noble/ed25519 one; callers on node may pass the native one.
 */
export { verifyProvenance, PROVENANCE_FORMAT, type ProvenanceDocument, type ProvenanceEntry, type ProvenanceReport, type StepReport } from './provenance.ts';
export { verifyCheckpointConsistency, type ConsistencyReport } from './consistency.ts';
export { VerificationError, VERIFY_ERROR_CODES, type VerifyErrorCode } from './errors.ts';
export { parseVerifierKey, formatVerifierKey, verifyNote, type NoteKey } from '../tlog/note.ts';
export { parseCheckpointBody, parseTlogProof, formatTlogProof, type Checkpoint } from '../tlog/checkpoint.ts';
export { verifyInclusion, verifyConsistency } from '../merkle/proofs.ts';
export { leafHash } from '../merkle/hash.ts';
