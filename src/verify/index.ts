/**
 * Everything an offline verifier needs, with no Node-only dependencies (a browser page can import this).
 * Every pipeline takes a CryptoBackend: the portable one by default; Node callers may pass the native one.
 * The formats and the algorithm are specified in docs/format.md.
 */
export { verifyProvenance, checkCheckpoint, PROVENANCE_FORMAT, PROVENANCE_FORMAT_V1, PROVENANCE_FORMAT_V2, PROVENANCE_FORMAT_V3, type ProvenanceDocument, type ProvenanceEntry, type ProvenanceReport, type StepReport } from './provenance.ts';
export { verifyExportLines, verifyUnitLine, firmwareAnswerLine, unitContextOf, inlineUnitVerifier, type ExportReport, type FirmwareAnswerReport, type FirmwareReport, type UnitRecordVerifier, type UnitContext, type UnitLine, type UnitResult, type VerifyExportOptions } from './export.ts';
export { checkCheckpointSignatures, requiredSignatures, type SignatureAlgorithm, type SignaturePolicy } from './signature-policy.ts';
export { parseMlDsaVerifierKey, formatMlDsaVerifierKey, verifyMlDsaLine, type MlDsaNoteKey } from '../tlog/ml-dsa-note.ts';
export { verifyRenewal, isRenewalBundle, RENEWAL_FORMAT, RENEWAL_FORMAT_V1, type RenewalBundle, type RenewalRotation, type RenewalReport } from './renewal.ts';
export { verifyExportRenewal, isExportRenewalBundle, RENEWAL_FORMAT_V3, type ExportRenewalBundle, type ExportRenewalReport, type ExportRenewalSubject, type Renewed } from './renewal.ts';
export { verifyCheckpointConsistency, type ConsistencyReport } from './consistency.ts';
export { VerificationError, VERIFY_ERROR_CODES, type VerifyErrorCode, type FailureLocation } from './errors.ts';
export { stepLines, failureLine } from './report.ts';
export { EXPORT_FORMAT, EXPORT_FORMAT_V1, EXPORT_FORMAT_V2, MAX_EXPORT_LINE_BYTES } from './export-format.ts';
export { parseVerifierKey, formatVerifierKey, verifyNote, type NoteKey } from '../tlog/note.ts';
export { parseCheckpointBody, type Checkpoint } from '../tlog/checkpoint.ts';
export { parseTlogProof, formatTlogProof } from '../tlog/checkpoint.ts';
export { portableCrypto, type CryptoBackend } from '../crypto/backend.ts';
export { verifyInclusion, verifyConsistency } from '../merkle/proofs.ts';
export { leafHash } from '../merkle/hash.ts';
export { checkWitnesses, type WitnessReport } from './witnesses.ts';
export { followLedgerKeyChain, followMlDsaKeyChain, followedPolicy, type LedgerKey, type LedgerKeyChain, type MlDsaKeyChain } from './ledger-keys.ts';
export { mlDsaRotationMessage, verifyMlDsaRotationSignature } from '../tlog/ml-dsa-rotation.ts';
export { checkFreshness, type FreshnessReport } from './freshness.ts';
export { UnitHistoryMap, verifyCompleteHistory, historyKey, type HistoryClaim, type UnitHistory } from './history-map.ts';
export { verifyFirmwareEvidence, verifyFirmwareUnits, firmwareEvidenceDetail, firmwareKey, type FirmwareEvidenceReport } from './firmware-map.ts';
export { verifyHistoryEvidence, formatCommitment, parseCommitment, indexLogOrigin, type HistoryReport, type MapCommitment } from './map-commitment.ts';
export { parseWitnessPolicy, quorumMet, describeQuorum, type WitnessPolicy } from '../tlog/policy.ts';
export { parseCosignerKey, verifyCosignatures, type CosignerKey, type Cosignature } from '../tlog/cosignature.ts';
export { exportStepPlan, provenanceStepPlan, renewalStepPlan, exportRenewalStepPlan, observedSteps, type PlanOptions } from './plan.ts';
// A monitor's building blocks, for auditors writing their own: the whole-log audit a `flashtrail monitor` keeps
// between polls (docs/format.md §16), and the unit map's commitments rebuilt from the log's entries (§15).
export { LogAudit, RECENT_ROOTS, type LogAuditFinding, type LogAuditState } from './log-audit.ts';
export { auditMapCommitments, type MapAuditFinding, type MapAuditReport } from './map-audit.ts';
// SCITT (docs/format.md §13): a COSE Receipt of a log entry and a Transparent Statement, checked offline against
// the keys of GET /.well-known/scitt-keys.
export { verifyReceipt, verifyTransparentStatement, parseScittKeySet, scittKeyForReceipt, ScittError, type ScittErrorCode, type ScittKey, type VerifiedReceipt, type VerifiedStatement } from '../scitt/index.ts';
