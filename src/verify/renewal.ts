/**
 * Renewal instead of re-signing (RFC 4998's idea, for a Merkle log): evidence proved against an older
 * checkpoint, perhaps signed with Ed25519 alone, is extended to a newer checkpoint signed with Ed25519 and
 * ML-DSA-44, by the consistency proof between the two. Everything under the old checkpoint is then protected
 * by SHA-256 (which quantum computers do not break) up to a root the post-quantum signature fixes: a later
 * forgery of an Ed25519 signature cannot add to or change that history.
 *
 * A renewal bundle (docs/format.md §14) is
 *   { "format": "flashtrail.renewal.v2", "evidence": <provenance document>, "checkpoint": <newer note>,
 *     "consistency": [<base64 hash>, …], "rotations": [<LedgerKeyRotated with its tlog-proof>, …] }
 * (v1: no rotations), or, for an export (§14.1), v3, which names the export instead of holding it:
 *   { "format": "flashtrail.renewal.v3", "subject": { "kind": "export", "sha256": <hex of the file>,
 *     "checkpoint": <the export's line-2 note> }, "checkpoint", "consistency", "rotations" }
 * and verifies in named steps: the evidence as it is (classical signatures accepted), for v3 that the export
 * given is the one the bundle names, the newer checkpoint under the hybrid policy by the keys the rotations lead
 * to, and the consistency proof from the evidence's checkpoint to it. verifyRenewal takes v1/v2 bundles,
 * verifyExportRenewal a v3 bundle with the export's lines; both end in the same renewal steps (renewTo).
 */
import type { CryptoBackend } from '../crypto/backend.ts';
import { portableCrypto } from '../crypto/backend.ts';
import { bytesEqual, fromBase64, toHex } from '../crypto/encoding.ts';
import { parseNote, type NoteKey } from '../tlog/note.ts';
import { verifyMlDsaLine, type MlDsaNoteKey } from '../tlog/ml-dsa-note.ts';
import { VerificationError } from './errors.ts';
import { checkCheckpoint, verifyProvenance, type ProvenanceReport, type StepReport } from './provenance.ts';
import { verifyConsistency } from '../merkle/proofs.ts';
import { parseCheckpointBody } from '../tlog/checkpoint.ts';
import { checkRotationInclusions, checkRotationShapes, followRotationRecords, type RotationRecord } from './rotation-records.ts';
import { checkCheckpointSignatures, type SignatureAlgorithm } from './signature-policy.ts';
import { followMlDsaKeyChain, mlDsaChainDetail } from './ledger-keys.ts';
import { verifyExportLines, type ExportReport, type VerifyExportOptions } from './export.ts';
import { observedSteps } from './plan.ts';

/** The current bundle format of a provenance document: v1 and the rotation records that take the pinned key to the checkpoint's (§14). */
export const RENEWAL_FORMAT = 'flashtrail.renewal.v2';
export const RENEWAL_FORMAT_V1 = 'flashtrail.renewal.v1';
/** The bundle format of an export (§14.1): v2's members, with `subject` naming the export instead of `evidence` holding it. */
export const RENEWAL_FORMAT_V3 = 'flashtrail.renewal.v3';
const DOCUMENT_RENEWAL_FORMATS: readonly string[] = [RENEWAL_FORMAT_V1, RENEWAL_FORMAT];
const RENEWAL_FORMATS: readonly string[] = [...DOCUMENT_RENEWAL_FORMATS, RENEWAL_FORMAT_V3];

/** Whether a parsed JSON document names a renewal bundle format (any version): how verifiers dispatch. */
export function isRenewalBundle(doc: unknown): boolean {
  const format = (doc as { format?: unknown } | null)?.format;
  return typeof format === 'string' && RENEWAL_FORMATS.includes(format);
}

/** Whether a parsed JSON document is a renewal bundle of an export (v3), verified with the export beside it. */
export function isExportRenewalBundle(doc: unknown): boolean {
  return (doc as { format?: unknown } | null)?.format === RENEWAL_FORMAT_V3;
}

/** A LedgerKeyRotated record of the renewal checkpoint's tree, with its tlog-proof (§6.3) against that checkpoint. */
export type RenewalRotation = RotationRecord;

export interface RenewalBundle {
  readonly format: typeof RENEWAL_FORMAT | typeof RENEWAL_FORMAT_V1;
  readonly evidence: unknown;
  readonly checkpoint: string;
  readonly consistency: string[];
  /** v2: every LedgerKeyRotated of the checkpoint's tree, in leaf order (none when the key never changed). */
  readonly rotations?: RenewalRotation[];
}

/** What a v3 bundle renews: an export file, by the SHA-256 of all its bytes and the checkpoint of its line 2. */
export interface ExportRenewalSubject {
  readonly kind: 'export';
  readonly sha256: string;
  readonly checkpoint: string;
}

export interface ExportRenewalBundle {
  readonly format: typeof RENEWAL_FORMAT_V3;
  readonly subject: ExportRenewalSubject;
  readonly checkpoint: string;
  readonly consistency: string[];
  readonly rotations: RenewalRotation[];
}

/** "covered by checkpoint N of DATE, ML-DSA-44 + Ed25519": the newer checkpoint that covers the evidence. */
export interface Renewed {
  readonly size: number;
  readonly signedAt: string;
  readonly signatures: SignatureAlgorithm[];
  readonly statement: string;
}

export interface RenewalReport {
  readonly format: RenewalBundle['format'];
  /** The evidence, verified as it was made (its own checkpoint's signatures). */
  readonly evidence: ProvenanceReport;
  readonly renewed: Renewed;
  readonly steps: StepReport[];
}

export interface ExportRenewalReport {
  readonly format: typeof RENEWAL_FORMAT_V3;
  readonly subject: ExportRenewalSubject;
  /** The export, verified as it was made (its own checkpoint's and statement's signatures). */
  readonly evidence: ExportReport;
  readonly renewed: Renewed;
  readonly steps: StepReport[];
}

const formatError = (message: string, field: string) => new VerificationError('FORMAT_ERROR', 'format', message, { field });

function checkMembers(b: object, allowed: readonly string[], prefix = ''): void {
  const unknown = Object.keys(b).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) throw formatError(`unknown member ${prefix}${unknown[0] as string}`, `${prefix}${unknown[0] as string}`);
}

/** checkpoint, consistency and (v2, v3) rotations: the members every renewal bundle shares. */
function checkRenewalMembers(b: { checkpoint?: unknown; consistency?: unknown; rotations?: unknown }, withRotations: boolean): void {
  if (typeof b.checkpoint !== 'string' || b.checkpoint.length > 16_384) throw formatError('checkpoint must be a signed note of at most 16,384 characters', 'checkpoint');
  if (!Array.isArray(b.consistency) || b.consistency.length > 64 || !b.consistency.every((h) => typeof h === 'string')) throw formatError('consistency must be an array of at most 64 base64 hashes', 'consistency');
  if (withRotations) checkRotationShapes(b.rotations);
}

function parseBundle(input: unknown): RenewalBundle {
  const b = input as Partial<RenewalBundle> | null;
  if (b === null || typeof b !== 'object' || Array.isArray(b) || typeof b.format !== 'string' || !RENEWAL_FORMATS.includes(b.format)) throw formatError(`not a renewal bundle (${RENEWAL_FORMATS.join(', ')})`, 'format');
  if ((b.format as string) === RENEWAL_FORMAT_V3) throw formatError(`a ${RENEWAL_FORMAT_V3} bundle renews an export, which it names but does not hold: verify the export with the bundle (flashtrail verify EXPORT --renewal BUNDLE; verifyExportRenewal)`, 'format');
  const v2 = b.format === RENEWAL_FORMAT;
  checkMembers(b, ['format', 'evidence', 'checkpoint', 'consistency', ...(v2 ? ['rotations'] : [])]);
  checkRenewalMembers(b, v2);
  return b as RenewalBundle;
}

function parseExportBundle(input: unknown): ExportRenewalBundle {
  const b = input as Partial<Record<keyof ExportRenewalBundle, unknown>> | null;
  if (b === null || typeof b !== 'object' || Array.isArray(b) || b.format !== RENEWAL_FORMAT_V3) throw formatError(`not a renewal bundle of an export (${RENEWAL_FORMAT_V3})`, 'format');
  checkMembers(b, ['format', 'subject', 'checkpoint', 'consistency', 'rotations']);
  const s = b.subject as Partial<Record<keyof ExportRenewalSubject, unknown>> | null | undefined;
  if (s === null || typeof s !== 'object' || Array.isArray(s)) throw formatError('subject must be {kind, sha256, checkpoint}', 'subject');
  checkMembers(s, ['kind', 'sha256', 'checkpoint'], 'subject.');
  if (s.kind !== 'export') throw formatError('subject.kind must be "export"', 'subject.kind');
  if (typeof s.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(s.sha256)) throw formatError('subject.sha256 must be the SHA-256 of the export file, 64 lowercase hex digits', 'subject.sha256');
  if (typeof s.checkpoint !== 'string' || s.checkpoint.length > 16_384) throw formatError("subject.checkpoint must be the export's line-2 checkpoint note, at most 16,384 characters", 'subject.checkpoint');
  checkRenewalMembers(b, true);
  return b as unknown as ExportRenewalBundle;
}

/** A failure of the evidence's own verification, placed under the `evidence` step (its code kept). */
function underEvidence(error: unknown, field?: string): unknown {
  if (!(error instanceof VerificationError)) return error;
  const location = field === undefined ? error.location : { ...error.location, field: `${field}${error.location.field ? `.${error.location.field}` : ''}` };
  return new VerificationError(error.code, `evidence: ${error.step}`, error.message, location, error.evidence);
}

export function verifyRenewal(input: unknown, ledgerKey: NoteKey, mlDsaKey: MlDsaNoteKey, crypto: CryptoBackend = portableCrypto): RenewalReport {
  const steps: StepReport[] = [];
  const bundle = parseBundle(input);
  steps.push({ step: 'format', detail: `${bundle.format}: evidence, a newer checkpoint and ${bundle.consistency.length} consistency proof hashes` });

  let evidence: ProvenanceReport;
  try {
    evidence = verifyProvenance(bundle.evidence, ledgerKey, crypto, { mlDsaKey, require: 'classical' });
  } catch (error) {
    throw underEvidence(error, 'evidence');
  }
  steps.push({ step: 'evidence', detail: `${evidence.format} of ${evidence.serial} verifies on its own, checkpoint ${evidence.checkpoint.size} signed with ${evidence.signatures.join(' + ')}` });
  const renewed = renewTo(bundle, (bundle.evidence as { checkpoint: string }).checkpoint, ledgerKey, mlDsaKey, crypto, steps);
  return { format: bundle.format, evidence, renewed, steps };
}

/**
 * A v3 bundle (§14.1) with the export it names, as the export's lines (each with its newline, in file order,
 * as verifyExportLines takes them): the export is verified as it was made (classical policy, the chains of its
 * own trust records), its bytes hashed as they pass; then it must be the bundle's subject (digest and line-2
 * checkpoint, RENEWAL_SUBJECT_MISMATCH), and the bundle's renewal steps follow. `options` are the export
 * verification's (crypto, worker pool, progress); its signature policy is the classical one with `mlDsaKey`.
 * The worker pool (`options.units`) is closed at the end, whatever the outcome, as verifyExportLines does;
 * `options.onStep` hears the export's steps as `evidence: <step>`, then the bundle's (exportRenewalStepPlan).
 */
export async function verifyExportRenewal(input: unknown, exportLines: AsyncIterable<Uint8Array>, ledgerKey: NoteKey, mlDsaKey: MlDsaNoteKey, options: Omit<VerifyExportOptions, 'signatures'> = {}): Promise<ExportRenewalReport> {
  const crypto = options.crypto ?? portableCrypto;
  const steps = observedSteps(options.onStep);
  let bundle: ExportRenewalBundle;
  try {
    bundle = parseExportBundle(input);
  } catch (error) {
    // The unit verifier is the export pipeline's to close; it never got it.
    await options.units?.close();
    throw error;
  }
  steps.push({ step: 'format', detail: `${RENEWAL_FORMAT_V3}: export ${bundle.subject.sha256.slice(0, 16)}…, a newer checkpoint and ${bundle.consistency.length} consistency proof hashes` });

  const whole = crypto.sha256Stream();
  let lineNumber = 0;
  let checkpointLine: Uint8Array | null = null;
  async function* hashed(): AsyncGenerator<Uint8Array> {
    for await (const line of exportLines) {
      whole.update(line);
      if (++lineNumber === 2) checkpointLine = line.slice();
      yield line;
    }
  }
  let evidence: ExportReport;
  try {
    const { onStep } = options;
    evidence = await verifyExportLines(hashed(), ledgerKey, { ...options, signatures: { mlDsaKey, require: 'classical' }, ...(onStep ? { onStep: (s: StepReport) => onStep({ ...s, step: `evidence: ${s.step}` }) } : {}) });
  } catch (error) {
    throw underEvidence(error);
  }
  steps.push({ step: 'evidence', detail: `${evidence.format} of ${evidence.units} unit(s) verifies on its own, checkpoint ${evidence.checkpoint.size} signed with ${evidence.signatures.join(' + ')}, statement with ${evidence.statementSignatures.join(' + ')}` });

  // The export verified, so its line 2 is a checkpoint record; the bundle must name this file and this note.
  const sha256 = toHex(whole.digest());
  const note = (JSON.parse(new TextDecoder().decode(checkpointLine ?? new Uint8Array())) as { note: string }).note;
  const mismatch = (message: string, field: string, shown: Record<string, string>) => new VerificationError('RENEWAL_SUBJECT_MISMATCH', 'subject', message, { field }, shown);
  if (sha256 !== bundle.subject.sha256) throw mismatch(`the bundle renews the export of SHA-256 ${bundle.subject.sha256}, not this file (${sha256})`, 'subject.sha256', { bundle: bundle.subject.sha256, file: sha256 });
  if (note !== bundle.subject.checkpoint) throw mismatch("the bundle's subject.checkpoint is not the export's line-2 checkpoint", 'subject.checkpoint', { bundle: bundle.subject.checkpoint, file: note });
  steps.push({ step: 'subject', detail: `the export is the bundle's subject: SHA-256 ${sha256}, line 2 = subject.checkpoint (size ${evidence.checkpoint.size})` });

  const renewed = renewTo(bundle, note, ledgerKey, mlDsaKey, crypto, steps);
  return { format: RENEWAL_FORMAT_V3, subject: bundle.subject, evidence, renewed, steps };
}

/**
 * The renewal steps every bundle ends with, once its evidence verified against `evidenceNote`: ledger-keys (the
 * rotations followed from the pinned keys), renewal checkpoint (hybrid, by the chains' last keys, the rotations
 * included in it), consistency (RFC 9162 from the evidence's tree to the renewal checkpoint's).
 */
function renewTo(bundle: { checkpoint: string; consistency: string[]; rotations?: RenewalRotation[] }, evidenceNote: string, ledgerKey: NoteKey, mlDsaKey: MlDsaNoteKey, crypto: CryptoBackend, steps: StepReport[]): Renewed {
  const at = (field: string) => ({ field });
  // Across a rotation (§5.4): the newer checkpoint is signed by the key in force at its size, which the bundle's
  // rotation records lead to from the pinned key, each link signed by the key it replaces.
  const { decoded: rotations, chain } = followRotationRecords(bundle.rotations ?? [], ledgerKey, crypto);
  // Likewise the ML-DSA-44 line (§5.5.1): signed by the last key of the ML-DSA-44 chain the same records hold,
  // each link signed (ML-DSA-44) by the key it replaces, followed from the pinned ML-DSA-44 key.
  const mlDsaChain = followMlDsaKeyChain(rotations, mlDsaKey, crypto);
  const renewing = (() => {
    try {
      return checkCheckpoint(bundle.checkpoint, chain.signing, crypto);
    } catch (error) {
      if (error instanceof VerificationError) throw new VerificationError(error.code, 'renewal checkpoint', error.message, at('checkpoint'));
      throw error;
    }
  })();
  const signatures = (() => {
    try {
      return checkCheckpointSignatures(bundle.checkpoint, { mlDsaKey: mlDsaChain.signing, require: 'hybrid' }, crypto);
    } catch (error) {
      if (error instanceof VerificationError) throw new VerificationError(error.code, 'renewal checkpoint', error.message, at('checkpoint'));
      throw error;
    }
  })();
  const hashes = bundle.consistency.map((h, i) => {
    try {
      const bytes = fromBase64(h);
      if (bytes.length === 32) return bytes;
    } catch {
      // reported below
    }
    throw new VerificationError('FORMAT_ERROR', 'format', `consistency[${i}] is not base64 of a 32-byte hash`, at(`consistency[${i}]`));
  });
  if (rotations.length > 0) {
    checkRotationInclusions(bundle.rotations ?? [], rotations, chain, bundle.checkpoint, renewing, crypto);
    steps.push({ step: 'ledger-keys', detail: `${chain.rotations.length} rotation(s) of the ledger key in the renewal checkpoint's tree, each signed by the key it replaces, from the pinned ${ledgerKey.name} (${ledgerKey.id}) to ${chain.signing.id}: ${chain.keys.map((k) => `${k.keyId.slice(0, 16)}…`).join(' → ')}` });
    if (mlDsaChain.rotations.length > 0) steps.push({ step: 'ledger-keys', detail: mlDsaChainDetail(mlDsaChain, mlDsaKey) });
  }
  // The evidence's checkpoint verified with the key of its time (the evidence step); both trees are now fixed.
  const older = parseCheckpointBody(parseNote(evidenceNote).text);
  const consistency = (() => {
    const evidenceOfFork = { olderCheckpoint: evidenceNote, newerCheckpoint: bundle.checkpoint };
    const refuse = (message: string) => new VerificationError('CONSISTENCY_PROOF_ERROR', 'consistency', message, at('consistency'), evidenceOfFork);
    if (renewing.size < older.size) throw refuse(`the renewal checkpoint's tree (${renewing.size}) is smaller than the evidence's (${older.size})`);
    if (renewing.size === older.size && !bytesEqual(renewing.root, older.root)) throw refuse(`fork: two different trees of size ${older.size}; both signed checkpoints are the evidence`);
    if (!verifyConsistency(older.size, renewing.size, older.root, renewing.root, hashes, crypto)) throw refuse(`tree ${renewing.size} does not extend tree ${older.size}: the log was rewritten between the two checkpoints (or the proof is wrong)`);
    return { from: { size: older.size }, to: { size: renewing.size } };
  })();
  const line = verifyMlDsaLine(bundle.checkpoint, mlDsaChain.signing, crypto);
  const signedAt = new Date((line.found ? line.timestamp : 0) * 1000).toISOString();
  const statement = `covered by checkpoint ${consistency.to.size} of ${signedAt.slice(0, 10)}, ${[...signatures].reverse().join(' + ')}`;
  steps.push({ step: 'renewal checkpoint', detail: `checkpoint ${consistency.to.size} signed with ${signatures.join(' + ')} at ${signedAt}` });
  steps.push({ step: 'consistency', detail: `tree ${consistency.to.size} extends tree ${consistency.from.size} (RFC 9162 §2.1.4.2): renewed, ${statement}` });
  return { size: consistency.to.size, signedAt, signatures, statement };
}
