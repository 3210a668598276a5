/**
 * Verification of a signed traceability export (docs/format.md §7, §8.2), as one pipeline of named steps
 * over a stream of lines. Pure: no Node-only APIs, so the CLI, the standalone verifier and the browser page
 * run the same code. Where unit records are verified is up to a `UnitRecordVerifier`: in the calling thread
 * (`inlineUnitVerifier`), or spread over worker threads by the caller (Node worker_threads, Web Workers),
 * each of which runs `verifyUnitLine` below.
 *
 * Steps: format → checkpoint → keys (trust, station, release and batch records) → units → statement.
 * Memory stays bounded: a caller's verifier holds only a few batches of unit records in flight, and no line
 * longer than MAX_EXPORT_LINE_BYTES is accepted.
 */
import { checkCheckpointSignatures, type SignatureAlgorithm, type SignaturePolicy } from './signature-policy.ts';
import { fromBase64, fromHex, fromUtf8, toBase64, toHex } from '../crypto/encoding.ts';
import { hashesEqual, leafHash, nodeHash, type Hash } from '../merkle/hash.ts';
import { canonicalize } from '../crypto/jcs.ts';
import { portableCrypto, type CryptoBackend } from '../crypto/backend.ts';
import type { Checkpoint } from '../tlog/checkpoint.ts';
import { parseNote, type NoteKey } from '../tlog/note.ts';
import { InTotoStatementV1Schema, InTotoStatementV2Schema, InTotoStatementV3Schema, InTotoStatementV4Schema, InTotoStatementV5Schema } from '../../schemas/export.ts';
import { carriesOfEvents, verifyFirmwareUnits } from './firmware-map.ts';
import { historyFormatError, verifyMapCommitment, verifyUnitMapProof, type CommittedMapRoot } from './map-commitment.ts';
import { UnitMapProof } from '../../schemas/history.ts';
import { checkStatementSignatures, checkVerifierPage, type VerifierPageReport } from './statement-signatures.ts';
import { VerificationError } from './errors.ts';
import { checkCheckpoint, notProvenWith, type StepReport } from './provenance.ts';
import { followedPolicy, followLedgerKeyChain, followMlDsaKeyChain, mlDsaChainDetail, type LedgerKey } from './ledger-keys.ts';
import { observedSteps } from './plan.ts';
import { checkWitnesses, witnessStepDetail, type WitnessReport } from './witnesses.ts';
import { checkFreshness, freshnessDetail, type FreshnessReport } from './freshness.ts';
import type { WitnessPolicy } from '../tlog/policy.ts';
import { checkCanonical, exportFormatOf, lineText, parseExportRecord, parseJsonText, parseUnitRecord, pathText, proofHashes, isUnitRecordText } from './records.ts';
import { inclusionMemo, readCanonicalUnitLine, type InclusionMemo } from './export-unit-line.ts';
import {
  anyKeyFor,
  checkInclusions,
  decodeEntry,
  establishKeys,
  expectedSummary,
  inclusionPathRanges,
  selectionRefuses,
  subjectName,
  verifyUnitEvents,
  type Decoded,
  type EstablishedKeys,
  type FirmwareClaim,
  type KeyLives,
  type StationKeyLife,
  type UnitFacts,
} from './steps.ts';
import {
  EXPORT_FORMAT_V1,
  EXPORT_FORMAT_V2,
  EXPORT_FORMAT_V3,
  EXPORT_FORMAT_V4,
  EXPORT_FORMAT_V5,
  FIRMWARE_ANSWER_MAX_SERIALS,
  FIRMWARE_PART_SERIALS,
  hasFirmwareAnswer,
  hasHistory,
  hasHybridStatement,
  isCanonicalExportFormat,
  MAX_EXPORT_LINE_BYTES,
  type AdminRecordKind,
  type ExportFormat,
  type ExportRecord,
  type ExportSelection,
  type FirmwareRecord,
  type InTotoStatement,
  type UnitRecord,
} from './export-format.ts';

export interface UnitResult {
  readonly serial: string;
  readonly line: number;
  readonly events: number;
  /** What the pipeline adds up across units; the unit's other facts stay where it was verified (a worker sends less). */
  readonly facts: Pick<UnitFacts, 'stations' | 'batchId' | 'firmware'>;
  readonly releaseId: string | null;
  /** v5: whether the unit's events leave it carrying the selection's firmware now, formerly, or never (§7.6.3). */
  readonly carries?: 'now' | 'formerly' | null;
}

/** One unit record line, as bytes (its trailing newline included), with its 1-based line number. */
export interface UnitLine {
  readonly line: number;
  readonly bytes: Uint8Array;
}

/** What a unit record is verified against; structured-clone friendly, so it can travel to a worker. */
export interface UnitContext {
  readonly format: ExportFormat;
  readonly lives: readonly (readonly [string, readonly StationKeyLife[]])[];
  readonly checkpoint: { readonly origin: string; readonly size: number; readonly root: string };
  /** batchId → releaseId from the batch records (v2); null where the format has none (v1). */
  readonly batches: readonly (readonly [string, string])[] | null;
  /** The header's selection, which every unit must satisfy (v2); null where it is not checked (v1). */
  readonly selection: ExportSelection | null;
  /** v4 with the index log key pinned: the map root the index log commits for the checkpoint; null: not checked. */
  readonly history: CommittedMapRoot | null;
}

export interface PreparedContext {
  readonly format: ExportFormat;
  readonly lives: KeyLives;
  readonly checkpoint: Checkpoint;
  readonly batches: ReadonlyMap<string, string> | null;
  readonly selection: ExportSelection | null;
  readonly history: CommittedMapRoot | null;
  /** The last verified inclusion path, shared by the lines verified against this context (export-unit-line.ts). */
  readonly inclusion: InclusionMemo;
}

/**
 * Verifies batches of unit record lines. `verify` may run them anywhere; it resolves with one result per
 * line, in order, or rejects with the VerificationError of the first failing unit. The lines of a batch are views
 * of one buffer, one after another from its start, which the pipeline never touches again once it has called
 * `verify`: a verifier may transfer that buffer to another thread.
 */
export interface UnitRecordVerifier {
  readonly threads: number;
  verify(batch: readonly UnitLine[], context: UnitContext): Promise<UnitResult[]>;
  close(): Promise<void>;
}

/** The context as a verifier uses it; callers that keep it across batches (workers) cache the result. */
export function unitContextOf(context: UnitContext): PreparedContext {
  const checkpoint = { origin: context.checkpoint.origin, size: context.checkpoint.size, root: fromBase64(context.checkpoint.root) };
  return {
    format: context.format,
    lives: new Map(context.lives.map(([k, v]) => [k, v.map((l) => ({ ...l }))])),
    checkpoint,
    batches: context.batches ? new Map(context.batches) : null,
    selection: context.selection,
    history: context.history,
    inclusion: inclusionMemo(checkpoint),
  };
}

/**
 * One unit record: its events included under the checkpoint, each signed by a key live at its leaf, chained
 * from the stream's first event in log order; its summary fields what the events say; (v2) the selection's.
 */
export function verifyUnitLine(unit: UnitLine, context: PreparedContext, crypto: CryptoBackend): UnitResult {
  const { line } = unit;
  let serial = '?';
  try {
    // v2 and later: the line read from its canonical bytes, if it is in the form that reader knows and everything
    // up to its inclusion passes; otherwise (and for v1) the steps one by one, which say what fails.
    const fast = isCanonicalExportFormat(context.format) ? readCanonicalUnitLine(unit.bytes, line, hasHistory(context.format), context.inclusion, crypto) : null;
    const { record, decoded, leafHashes } = fast ? { record: fast, decoded: fast.decoded, leafHashes: fast.leafHashes } : readUnitLineBySteps(unit, context, crypto, (s) => (serial = s));
    serial = record.serial;
    const facts = verifyUnitEvents(record.serial, decoded, context.lives, crypto);
    // v4: the events are every event of the unit as of the checkpoint (§7.6.2), before the summary, so that a
    // record with its last events left out is named as such whatever else they changed.
    if (hasHistory(context.format)) {
      const proof = UnitMapProof.safeParse(record.history);
      if (!proof.success) throw historyFormatError(proof.error, `the history of unit ${record.serial}`, { field: 'history' });
      if (context.history) verifyUnitMapProof(record.serial, decoded.map((d, i) => ({ leafIndex: d.leafIndex, leafHash: leafHashes[i] as Hash })), proof.data, context.history, crypto, { field: 'history' });
    }
    const { fields, missingBatch } = expectedSummary(facts, context.batches);
    if (missingBatch !== null) throw new VerificationError('SUMMARY_MISMATCH', 'unit', `the unit was scanned into batch ${missingBatch}, whose BatchOpened record is not in the file`, { field: 'releaseId' });
    for (const [field, expected] of Object.entries(fields)) {
      const actual = record[field as keyof typeof fields];
      if (actual !== expected) {
        throw new VerificationError('SUMMARY_MISMATCH', 'unit', `${field} is ${JSON.stringify(actual)}, but the unit's signed ${field === 'releaseId' ? 'events and its batch record' : 'events'} say ${JSON.stringify(expected)}`, { field });
      }
    }
    // v5 (§7.6.3): the firmware member is the proved answer's, held against the serial where the answer is (the
    // reading side); here, only what the unit's own events say it carries. The other members as in §7.5.
    const firmwareAnswer = hasFirmwareAnswer(context.format) ? (context.selection?.firmwareSha256 ?? null) : null;
    if (context.selection) {
      const { firmwareSha256: _replaced, ...others } = context.selection;
      const refusal = selectionRefuses(firmwareAnswer === null ? context.selection : others, record.serial, facts);
      if (refusal) throw new VerificationError('SELECTION_MISMATCH', 'unit', `the unit does not belong in this export: ${refusal}`, {});
    }
    const carries = firmwareAnswer === null ? undefined : carriesOfEvents(decoded.map((d) => d.event), firmwareAnswer);
    return { serial: record.serial, line, events: decoded.length, facts: { stations: facts.stations, batchId: facts.batchId, firmware: facts.firmware }, releaseId: record.releaseId, ...(carries !== undefined ? { carries } : {}) };
  } catch (error) {
    if (error instanceof VerificationError) throw error.within(`line ${line}, unit ${serial}`, { line, ...(serial !== '?' ? { serial } : {}) });
    throw error;
  }
}

/**
 * A unit record line through the steps of §8.2 one by one (records.ts, steps.ts), up to its events' inclusion: the
 * specification the fast reader (export-unit-line.ts) is held to, and what names a failure. `named` learns the
 * serial as soon as the record is parsed, for the location of what fails after.
 */
export function readUnitLineBySteps(unit: UnitLine, context: PreparedContext, crypto: CryptoBackend, named: (serial: string) => void): { record: UnitRecord; decoded: Decoded[]; leafHashes: Hash[] } {
  const { line } = unit;
  const text = lineText(unit.bytes, line, MAX_EXPORT_LINE_BYTES);
  const v2 = isCanonicalExportFormat(context.format);
  const record = parseUnitRecord(text, context.format, line, v2 ? 'later' : 'now');
  named(record.serial);
  const canonical = () => checkCanonical(JSON.parse(text), text, `line ${line}`, { line });
  let decoded: Decoded[];
  try {
    decoded = record.events.map((e, i) => decodeEntry('unit', e.leafIndex, e.envelope, i, { line, field: `events[${i}]` }, crypto));
  } catch (error) {
    // The line's form is checked before its envelopes (docs/format.md §8.2): a non-canonical line says so first.
    if (v2) canonical();
    throw error;
  }
  if (v2 && !isUnitRecordText(record, decoded.map((d) => d.envelope), text)) canonical();
  const included = decoded.map((d, i) => ({ d, proof: proofHashes((record.events[i] as { proof: readonly string[] }).proof, d.at, 'inclusion') }));
  // The unit's proofs together first; only when one fails does checkInclusions go through them to say which and why.
  if (!allIncluded(included, context.checkpoint, crypto)) checkInclusions(included, context.checkpoint, crypto, (d) => anyKeyFor(context.lives, d));
  return { record, decoded, leafHashes: decoded.map((d) => leafHash(d.bytes, crypto)) };
}

/**
 * Whether every entry's proof leads from its leaf to the checkpoint's root, with the work the entries share
 * done once: a unit's events lie close together in the log, so their paths meet below the root, and above
 * the node where a path meets one already verified it holds exactly that path's hashes. There an entry is
 * settled by comparing its remaining proof hashes with the verified ones instead of hashing them: the same
 * verdict as verifyInclusion for each entry (a differing hash falls back to hashing), a fraction of the
 * hashes. False sends the caller to checkInclusions, which finds and names the failing entry.
 */
export function allIncluded(entries: readonly { d: Decoded; proof: readonly Hash[] }[], checkpoint: Checkpoint, crypto: CryptoBackend): boolean {
  // Nodes of verified paths (and their siblings), by the leaf range they cover.
  const proven = new Map<string, Hash>();
  for (const { d, proof } of entries) {
    const ranges = inclusionPathRanges(d.leafIndex, checkpoint.size);
    if (ranges.length !== proof.length) return false;
    let hash = leafHash(d.bytes, crypto);
    let from = d.leafIndex;
    let to = d.leafIndex + 1;
    let settled = false;
    const path: [string, Hash][] = [];
    for (const [level, [s, e]] of ranges.entries()) {
      const known = proven.get(`${from}:${to}`);
      if (known && hashesEqual(known, hash) && ranges.slice(level).every(([rs, re], l) => hashesEqual(proven.get(`${rs}:${re}`) ?? new Uint8Array(0), proof[level + l] as Hash))) {
        settled = true;
        break;
      }
      const sibling = proof[level] as Hash;
      path.push([`${from}:${to}`, hash], [`${s}:${e}`, sibling]);
      hash = s < from ? nodeHash(sibling, hash, crypto) : nodeHash(hash, sibling, crypto);
      from = Math.min(s, from);
      to = Math.max(e, to);
    }
    if (!settled && !hashesEqual(hash, checkpoint.root)) return false;
    for (const [range, h] of path) proven.set(range, h);
  }
  return true;
}

/** Verifies unit records in the calling thread. */
export function inlineUnitVerifier(crypto: CryptoBackend = portableCrypto): UnitRecordVerifier {
  let cached: { context: UnitContext; value: PreparedContext } | null = null;
  return {
    threads: 1,
    verify: (batch, context) => {
      if (cached?.context !== context) cached = { context, value: unitContextOf(context) };
      const prepared = cached.value;
      try {
        return Promise.resolve(batch.map((u) => verifyUnitLine(u, prepared, crypto)));
      } catch (error) {
        return Promise.reject(error as Error);
      }
    },
    close: () => Promise.resolve(),
  };
}

/**
 * The closing statement: its DSSE envelope signed by the ledger key (v3: and its ML-DSA-44 key, per the policy)
 * over an RFC 8785 in-toto Statement v1 of our predicate.
 */
export function verifyStatement(
  envelope: { payloadType: string; payload: string; signatures: { keyid: string; sig: string }[] },
  format: ExportFormat,
  ledgerKey: NoteKey,
  line: number,
  crypto: CryptoBackend,
  policy?: SignaturePolicy,
): { statement: InTotoStatement; signatures: SignatureAlgorithm[] } {
  const at = { line };
  const signatures = checkStatementSignatures(envelope, ledgerKey, policy, hasHybridStatement(format), at, crypto);
  // Signed by the ledger: from here on, a failure is the ledger contradicting itself (or its key in other hands).
  let text: string;
  try {
    text = fromUtf8(fromBase64(envelope.payload));
  } catch {
    throw new VerificationError('FORMAT_ERROR', 'statement', 'the statement payload is not canonical base64 of UTF-8', { ...at, field: 'envelope.payload' });
  }
  const value = parseJsonText(text, 'the statement payload', { ...at, field: 'envelope.payload' }, 'statement');
  try {
    checkCanonical(value, text, 'the statement payload', { ...at, field: 'envelope.payload' });
  } catch (error) {
    if (error instanceof VerificationError) throw new VerificationError('PAYLOAD_NOT_CANONICAL', 'statement', error.message, error.location);
    throw error;
  }
  const parsed = (format === EXPORT_FORMAT_V5 ? InTotoStatementV5Schema : format === EXPORT_FORMAT_V4 ? InTotoStatementV4Schema : format === EXPORT_FORMAT_V3 ? InTotoStatementV3Schema : format === EXPORT_FORMAT_V2 ? InTotoStatementV2Schema : InTotoStatementV1Schema).safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue ? pathText(issue.path) : '';
    throw new VerificationError('FORMAT_ERROR', 'statement', `the statement is not a ${format} in-toto Statement v1: ${field || '(root)'}: ${issue?.message ?? 'invalid'}`, { ...at, field: `statement.${field}` });
  }
  return { statement: parsed.data as InTotoStatement, signatures };
}

export interface FirmwareReport {
  readonly sha256: string;
  /** v2: "bootloader <version>" / "application <version>", as the statement names it. */
  readonly name: string;
  readonly kind: FirmwareClaim['kind'];
  readonly units: number;
  /** Releases in the file that approve this image for its kind (v2; empty for v1, which has no release records). */
  readonly approvedBy: string[];
}

export interface ExportReport {
  readonly format: ExportFormat;
  readonly origin: string;
  readonly checkpoint: { size: number; root: string };
  readonly units: number;
  readonly events: number;
  readonly stations: string[];
  readonly firmware: FirmwareReport[];
  readonly createdAt: string;
  readonly selection: ExportSelection;
  readonly threads: number;
  readonly crypto: CryptoBackend['name'];
  readonly steps: StepReport[];
  /** What this file's format cannot prove, said plainly (docs/format.md §7.7, §10). */
  /** The algorithms of the ledger's checkpoint signatures that verified (signature-policy.ts). */
  readonly signatures: SignatureAlgorithm[];
  /** The algorithms of the statement's signatures that verified (statement-signatures.ts). */
  readonly statementSignatures: SignatureAlgorithm[];
  /** v3: the offline verifier page the statement names, and whether the page given matched it. */
  readonly verifierPage?: VerifierPageReport;
  readonly notProven: string[];
  /** v4 with the index log key pinned: every unit's history is complete as of this map root's checkpoint. */
  readonly history?: CommittedMapRoot;
  /** v5: the firmware answer the file carries, and what was proved of it and of the units (§7.6.3). */
  readonly firmwareAnswer?: FirmwareAnswerReport;
  readonly witnesses?: WitnessReport;
  readonly freshness?: FreshnessReport;
}

export interface VerifyExportOptions {
  readonly crypto?: CryptoBackend;
  /** Where unit records are verified; inline on `crypto` by default. The pipeline closes it at the end. */
  readonly units?: UnitRecordVerifier;
  readonly onProgress?: (units: number, events: number) => void;
  /** A witness policy whose quorum must have cosigned the checkpoint (WITNESS_QUORUM_NOT_MET). */
  readonly policy?: WitnessPolicy;
  /** The log is known to have at least this many leaves (CHECKPOINT_STALE). */
  readonly atLeast?: number;
  readonly now?: Date;
  /** Which of the ledger's signatures (checkpoint, and v3 statement) are required (signature-policy.ts); classical by default. */
  readonly signatures?: SignaturePolicy;
  /** The offline verifier page found next to the export, to compare with the digest a v3 statement names. */
  readonly verifierPage?: Uint8Array;
  /** Called as each step passes, for a live display (plan.ts). */
  readonly onStep?: (step: StepReport) => void;
  /** The index log's verifier key (`<origin>/unit-map+…`): with it, a v4 export proves every unit's history complete (HISTORY_INCOMPLETE). */
  readonly mapKey?: NoteKey;
}

export interface FirmwareAnswerReport {
  readonly sha256: string;
  /** The ledger checkpoint's size the answer is as of. */
  readonly size: number;
  /** Serials the answer names as carrying the digest now, and formerly. */
  readonly now: number;
  readonly formerly: number;
  /** Unit records in the file, and serials of the answer it leaves out (by the other selection members). */
  readonly inFile: number;
  readonly leftOut: number;
  /** With the index log key: the answer's map proof verified under the committed (v2) map root. */
  readonly proved: boolean;
  /** Proved, and the file holds every unit of it that the selection requires (no batchId, customer, from or to). */
  readonly complete: boolean;
  /** The selection members besides the digest that narrow it to what the answer alone cannot decide. */
  readonly narrowedBy: string[];
}

/**
 * What a v5 export's verification says of its firmware answer (§7.6.3), as one line for `flashtrail verify` and
 * the offline page alike; null for other formats.
 */
export function firmwareAnswerLine(report: Pick<ExportReport, 'firmwareAnswer' | 'selection'>): string | null {
  const fa = report.firmwareAnswer;
  if (!fa) return null;
  const counts = `${fa.now} now, ${fa.formerly} formerly`;
  if (fa.complete) return `complete: the export holds every unit carrying firmware ${fa.sha256} (${counts}${report.selection.serials ? ", among the selection's serials" : ''}) as of checkpoint ${fa.size}`;
  if (fa.proved) return `firmware answer proved as of checkpoint ${fa.size} (${counts}): every unit in the file is in it; ${fa.leftOut} unit(s) of it are not in the file, narrowed by ${fa.narrowedBy.join(', ')} (not proven to fall outside)`;
  return `firmware answer not checked (${counts}): pin the index log key (--map-key) to prove the export complete for firmware ${fa.sha256}`;
}

/** Unit records per batch handed to the verifier. */
const BATCH = 256;

/**
 * The unit record lines of the batch being filled, copied one after another into one buffer from its start: the
 * chunk of the file a line came from can be freed while the batch waits for a thread, and a verifier can hand the
 * batch on as that one buffer (the Node worker pool transfers it instead of copying the lines again). A batch's
 * buffer is never written once the batch is taken. It grows by doubling (its lines moved along); the next batch's
 * starts a little larger than the last one ended, so that most batches are written into one allocation.
 */
class UnitBatch {
  lines: UnitLine[] = [];
  #bytes = new Uint8Array(0);
  #used = 0;
  #size = 1 << 16;
  /** Adds a copy of the line; the batch's length after it. */
  add(line: number, bytes: Uint8Array): number {
    if (this.#used + bytes.length > this.#bytes.length) this.#grow(this.#used + bytes.length);
    this.#bytes.set(bytes, this.#used);
    this.lines.push({ line, bytes: this.#bytes.subarray(this.#used, (this.#used += bytes.length)) });
    return this.lines.length;
  }
  #grow(need: number): void {
    let size = Math.max(this.#size, this.#bytes.length);
    while (size < need) size *= 2;
    const bigger = new Uint8Array(size);
    bigger.set(this.#bytes.subarray(0, this.#used));
    this.#bytes = bigger;
    let at = 0;
    this.lines = this.lines.map((u) => ({ line: u.line, bytes: bigger.subarray(at, (at += u.bytes.length)) }));
  }
  /** The lines so far, for a verifier; the next line starts a new buffer. */
  take(): UnitLine[] {
    const lines = this.lines;
    this.#size = Math.max(1 << 16, Math.ceil(this.#used * 1.25));
    this.lines = [];
    this.#bytes = new Uint8Array(0);
    this.#used = 0;
    return lines;
  }
}
/** How a unit record line starts: v1 as the ledger wrote it, v2 in RFC 8785 member order. */
const UNIT_PREFIX: Record<ExportFormat, Uint8Array> = { [EXPORT_FORMAT_V1]: utf8Bytes('{"record":"unit"'), [EXPORT_FORMAT_V2]: utf8Bytes('{"batchId":'), [EXPORT_FORMAT_V3]: utf8Bytes('{"batchId":'), [EXPORT_FORMAT_V4]: utf8Bytes('{"batchId":'), [EXPORT_FORMAT_V5]: utf8Bytes('{"batchId":') };

function utf8Bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  if (bytes.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}

const NOT_PROVEN_COMPLETE = 'that each unit record holds every event of its unit: events after the last one shown may have been left out';
const NOT_PROVEN_ALL_UNITS = 'that the export holds every unit its selection matches';
const NOT_PROVEN_ALWAYS = [
  NOT_PROVEN_COMPLETE,
  NOT_PROVEN_ALL_UNITS,
  'that the checkpoint is the newest, or that others were shown the same tree (witness cosignatures)',
];
const NOT_PROVEN_V1 = [
  'releaseId of each unit record (v1 exports carry no batch or release records)',
  'the sboms list (v1 exports carry no release records)',
  'that each unit satisfies the selection (not checked for v1)',
  'the subject names (v1 names are not derived from the events; digests are checked)',
];

/**
 * Verifies an export given as its lines, in file order, each as bytes including its newline. Every byte
 * before the statement line is hashed as it passes, and unit records go to the verifier undecoded, so the
 * reading side hashes bytes and little more.
 */
export async function verifyExportLines(lines: AsyncIterable<Uint8Array>, pinnedKey: NoteKey, options: VerifyExportOptions = {}): Promise<ExportReport> {
  const crypto = options.crypto ?? portableCrypto;
  const units = options.units ?? inlineUnitVerifier(crypto);
  const steps = observedSteps(options.onStep);
  const hash = crypto.sha256Stream();
  const inFlight = new Set<Promise<void>>();
  let failure: VerificationError | null = null;
  const firmware = new Map<string, { claim: FirmwareClaim; units: number }>();
  const stations = new Set<string>();
  const serialsSeen = new Map<string, number>();
  /** First and last unit of each batch, by dispatch order: v2 units must ascend across batches too. */
  const batchEnds = new Map<number, { first: UnitResult; last: UnitResult }>();
  const releasesUsed = new Set<string>();
  const batchesUsed = new Set<string>();
  let unitCount = 0;
  let events = 0;
  let format: ExportFormat = EXPORT_FORMAT_V2;
  let witnesses: WitnessReport | undefined;
  let freshness: FreshnessReport | undefined;
  let algorithms: SignatureAlgorithm[] = [];
  let history: CommittedMapRoot | undefined;
  // The pinned key until the chain of ledger keys (§5.4) names the key that signed the checkpoint.
  let ledgerKey = pinnedKey;
  // The pinned ML-DSA-44 key, or the last of its chain (§5.5) once the records before the units are read.
  let signaturePolicy = options.signatures;

  const record = (seq: number, results: UnitResult[]) => {
    let previous: UnitResult | null = null;
    for (const r of results) {
      if (isCanonicalExportFormat(format) && previous && !(previous.serial < r.serial)) {
        failure ??= unitOrderError(previous, r);
      }
      const seen = serialsSeen.get(r.serial);
      if (format === EXPORT_FORMAT_V1 && seen !== undefined) {
        failure ??= new VerificationError('DUPLICATE_ENTRY', 'units', `line ${r.line}: unit ${r.serial} already has a record, at line ${seen}`, { line: r.line, serial: r.serial });
      }
      if (format === EXPORT_FORMAT_V1) serialsSeen.set(r.serial, r.line);
      previous = r;
      unitCount++;
      events += r.events;
      if (answerSets) checkAgainstAnswer(r, answerSets);
      r.facts.stations.forEach((s) => stations.add(s));
      if (r.facts.batchId !== null) batchesUsed.add(r.facts.batchId);
      if (r.releaseId !== null) releasesUsed.add(r.releaseId);
      for (const claim of r.facts.firmware) {
        const key = `${claim.kind} ${claim.sha256}`;
        const known = firmware.get(key);
        firmware.set(key, { claim: known && known.claim.leafIndex < claim.leafIndex ? known.claim : claim, units: (known?.units ?? 0) + 1 });
      }
    }
    if (results.length > 0) batchEnds.set(seq, { first: results[0] as UnitResult, last: results[results.length - 1] as UnitResult });
    options.onProgress?.(unitCount, events);
  };
  /** v5: the firmware answer, read from its records (lines 4 …), and the unit records found in it. */
  const answer = emptyFirmwareAnswer();
  let answerSets: { now: Set<string>; formerly: Set<string>; present: Map<string, number> } | null = null;
  let answerProved = false;
  const checkAgainstAnswer = (r: UnitResult, sets: NonNullable<typeof answerSets>) => {
    const listed = sets.now.has(r.serial) ? 'now' : sets.formerly.has(r.serial) ? 'formerly' : null;
    const at = { line: r.line, serial: r.serial };
    if (listed === null) {
      failure ??= new VerificationError('SELECTION_MISMATCH', 'units', `line ${r.line}: unit ${r.serial} is not in the firmware answer for ${answer.sha256.slice(0, 16)}… (neither now nor formerly), so it does not belong in this export`, at);
    } else if (r.carries !== listed) {
      failure ??= new VerificationError('FIRMWARE_UNITS_INCOMPLETE', 'units', `line ${r.line}: the firmware answer lists unit ${r.serial} as carrying ${answer.sha256.slice(0, 16)}… ${listed}, but its events say ${r.carries === null || r.carries === undefined ? 'it never carried it' : `it carries it ${r.carries}`}`, at);
    }
    sets.present.set(r.serial, r.line);
  };
  let nextSeq = 0;
  const dispatch = async (batch: UnitLine[], context: UnitContext) => {
    const seq = nextSeq++;
    const done = units.verify(batch, context).then(
      (results) => record(seq, results),
      (error: unknown) => {
        failure ??= error instanceof VerificationError ? error : new VerificationError('FORMAT_ERROR', 'unit', (error as Error).message);
      },
    );
    inFlight.add(done);
    void done.then(() => inFlight.delete(done));
    while (inFlight.size >= units.threads * 2) await Promise.race(inFlight);
  };

  try {
    let lineNo = 0;
    let records = 0;
    let header: Extract<ExportRecord, { record: 'header' }> | null = null;
    let checkpoint: Checkpoint | null = null;
    let checkpointNote: string | null = null;
    const admin: { d: Decoded; proof: readonly string[] }[] = [];
    let lastAdminLeaf = -1;
    let established: EstablishedKeys | null = null;
    let context: UnitContext | null = null;
    const batch = new UnitBatch();
    let statement: { envelope: Parameters<typeof verifyStatement>[0]; line: number } | null = null;
    let contentDigest = '';
    let historyRecord: Extract<ExportRecord, { record: 'history' }> | null = null;

    // Once the admin records are read (before the first unit, or at the end of an export without units):
    // check their inclusion, establish the keys, and fix what every unit is verified against.
    const checkpointStep = (note: string, key: NoteKey, chainKeys: readonly LedgerKey[] = []): Checkpoint => {
      const verified = withLine(() => checkCheckpoint(note, key, crypto), 2);
      algorithms = withLine(() => checkCheckpointSignatures(note, signaturePolicy, crypto), 2);
      steps.push({ step: 'checkpoint', detail: `signed by ${key.name} (${key.id}) with ${algorithms.join(' + ')}: tree size ${verified.size}, root ${toHex(verified.root).slice(0, 16)}…` });
      if (options.policy) {
        const policy = options.policy;
        witnesses = withLine(() => checkWitnesses(note, policy, key, crypto, { line: 2, field: 'note' }, chainKeys), 2);
        steps.push({ step: 'witnesses', detail: witnessStepDetail(witnesses) });
      }
      if (options.atLeast !== undefined || witnesses) {
        const f = withLine(() => checkFreshness(verified, options.atLeast, witnesses, options.now ?? new Date(), { line: 2, field: 'note' }), 2);
        freshness = f;
        steps.push({ step: 'freshness', detail: freshnessDetail(f, options.atLeast) });
      }
      return verified;
    };

    /**
     * §8.2 step 3a: what the units' map proofs stand on, the map root the index log commits for the checkpoint;
     * checked once, here, with the index log key pinned. Without it nothing is claimed about completeness.
     */
    const historyStep = (cp: Checkpoint): CommittedMapRoot | null => {
      if (hasHistory(format) && !historyRecord) throw new VerificationError('FORMAT_ERROR', 'format', `a ${format} export has its history record at line 3`, { line: 3 });
      if (!options.mapKey) {
        steps.push({ step: 'history', detail: hasHistory(format) ? 'not checked: pin the index log key (GET /v1/unit-map/key; flashtrail verify --map-key) to prove every unit\'s history complete' : `not checked: a ${format} export carries no history` });
        return null;
      }
      if (!historyRecord) {
        throw new VerificationError('HISTORY_INCOMPLETE', 'history', `the export (${format}) carries no history: nothing proves its unit records hold every event of their units (${EXPORT_FORMAT_V4} does, from a ledger that keeps a unit history map)`, { line: 3, field: 'history' });
      }
      const committed = verifyMapCommitment(historyRecord, cp, options.mapKey, crypto, options.policy ? { policy: options.policy } : {}, { line: 3 });
      history = committed;
      steps.push({ step: 'history', detail: `map root ${committed.mapRoot.slice(0, 16)}… committed for tree size ${committed.size} in the index log (tree ${committed.indexSize})${committed.indexWitnesses ? `, index checkpoint quorum ${committed.indexWitnesses.quorum} met` : ''}; each unit's map proof is checked with its record` });
      return committed;
    };

    /**
     * §7.6.3, v5, after the last unit record: every serial of the answer that the selection requires has a unit
     * record (EXPORT_INCOMPLETE naming the first in serial order that has none, at the unit line after it). With
     * batchId, customer, from or to the answer alone does not decide which units the selection requires: those
     * left out are counted and reported, not proven to fall outside.
     */
    const completenessStep = (sets: NonNullable<typeof answerSets>, h: NonNullable<typeof header>, cp: Checkpoint, endLine: number): FirmwareAnswerReport => {
      const narrowedBy = (['batchId', 'customer', 'from', 'to'] as const).filter((m) => h.selection[m] !== undefined);
      const named = h.selection.serials ? new Set(h.selection.serials) : null;
      let leftOut = 0;
      let missing: { serial: string; list: 'now' | 'formerly' } | null = null;
      let missingAt = endLine;
      for (const [serial, list] of mergedSerials(answer.now, answer.formerly)) {
        const line = sets.present.get(serial);
        if (line !== undefined) {
          if (missing && missingAt === endLine) missingAt = line;
          continue;
        }
        if (named && !named.has(serial)) continue;
        leftOut++;
        if (answerProved && narrowedBy.length === 0) missing ??= { serial, list };
      }
      if (missing) {
        throw new VerificationError('EXPORT_INCOMPLETE', 'completeness', `unit ${missing.serial}, which the proved firmware answer holds as carrying ${answer.sha256.slice(0, 16)}… ${missing.list} as of tree size ${cp.size}, has no unit record: the file leaves out a unit its selection requires`, { line: missingAt, serial: missing.serial });
      }
      const report: FirmwareAnswerReport = { sha256: answer.sha256, size: cp.size, now: answer.now.length, formerly: answer.formerly.length, inFile: sets.present.size, leftOut, proved: answerProved, complete: answerProved && narrowedBy.length === 0, narrowedBy };
      steps.push({
        step: 'completeness',
        detail: !answerProved
          ? `not checked: each of the ${report.inFile} unit record(s) is in the answer's lists, as its events say, but the answer is not proved (no index log key)`
          : report.complete
            ? `the file holds every unit carrying firmware ${answer.sha256} now (${report.now}) or formerly (${report.formerly})${named ? ' among the selection\'s serials' : ''} as of tree size ${cp.size}: ${report.inFile} unit record(s)`
            : `every one of the ${report.inFile} unit record(s) is in the proved answer; ${leftOut} unit(s) of the answer are not in the file, which the selection narrows by ${narrowedBy.join(', ')}: that they fall outside it is not proven`,
      });
      return report;
    };

    /**
     * §7.6.3, v5: the firmware answer against the committed map root (with the index log key pinned), once, before
     * any unit is read; then the unit records are held against its lists as they arrive (checkAgainstAnswer).
     */
    const firmwareStep = (h: NonNullable<typeof header>, cp: Checkpoint, committed: CommittedMapRoot | null): void => {
      if (!hasFirmwareAnswer(format)) return;
      const at = { line: 4 };
      if (answer.parts === 0) throw new VerificationError('FORMAT_ERROR', 'format', `a ${format} export has its first firmware record at line 4`, at);
      if (h.selection.firmwareSha256 !== answer.sha256) {
        throw new VerificationError('SELECTION_MISMATCH', 'firmware', `the firmware records answer for ${answer.sha256}, but the selection ${h.selection.firmwareSha256 === undefined ? 'names no firmware' : `is firmware ${h.selection.firmwareSha256}`}`, { ...at, field: 'sha256' });
      }
      answerSets = { now: new Set(answer.now), formerly: new Set(answer.formerly), present: new Map() };
      const lists = `${answer.now.length} unit(s) carrying it now and ${answer.formerly.length} formerly, in ${answer.parts} record(s)`;
      if (!committed) {
        steps.push({ step: 'firmware', detail: `not checked: the answer names ${lists}; pin the index log key (flashtrail verify --map-key) to prove it complete and the file to hold every unit of it` });
        return;
      }
      if (committed.version !== 2) {
        throw new VerificationError('FIRMWARE_UNITS_INCOMPLETE', 'firmware', `the index log commits a units-only (v1) map root for checkpoint ${cp.size}: it holds no firmware key, so no firmware answer is proved by it`, { ...at, field: 'firmware' });
      }
      const firmware = answer.firmware as FirmwareRecord['firmware'];
      withLine(() => verifyFirmwareUnits(answer.sha256, answer.now, answer.formerly, firmware.value === null ? null : fromBase64(firmware.value), fromBase64(firmware.proof), fromHex(committed.mapRoot), crypto), 4);
      answerProved = true;
      steps.push({ step: 'firmware', detail: `firmware ${answer.sha256}: the map proves exactly ${lists}, as of tree size ${cp.size} (map root ${committed.mapRoot.slice(0, 16)}…)` });
    };

    const establish = (h: NonNullable<typeof header>): UnitContext => {
      // The chain of ledger keys (§5.4): the checkpoint is the last key's, and it is checked before any proof.
      // The ML-DSA-44 key's chain likewise (§5.5): the checkpoint's ML-DSA-44 line and the statement are its last key's.
      const trust = admin.filter((a) => a.d.role === 'trust').map((a) => a.d);
      const chain = followLedgerKeyChain(trust, pinnedKey, crypto, 'keys');
      ledgerKey = chain.signing;
      const pinnedMlDsa = options.signatures?.mlDsaKey ?? null;
      const mlDsaChain = pinnedMlDsa ? followMlDsaKeyChain(trust, pinnedMlDsa, crypto, 'keys') : null;
      signaturePolicy = options.signatures && followedPolicy(options.signatures, mlDsaChain);
      const chainDetails = [
        ...(chain.rotations.length > 0 ? [`${chain.rotations.length} rotation(s) of the ledger key, each signed by the key it replaces, from the pinned ${pinnedKey.name} (${pinnedKey.id}) to ${ledgerKey.id}`] : []),
        ...(mlDsaChain && pinnedMlDsa && mlDsaChain.rotations.length > 0 ? [mlDsaChainDetail(mlDsaChain, pinnedMlDsa)] : []),
      ];
      if (chainDetails.length > 0) steps.push({ step: 'ledger-keys', detail: chainDetails.join('; ') });
      if (!checkpoint || ledgerKey.id !== pinnedKey.id || (mlDsaChain && pinnedMlDsa && mlDsaChain.signing.id !== pinnedMlDsa.id)) checkpoint = checkpointStep(checkpointNote as string, ledgerKey, chain.keys);
      const cp = checkpoint;
      const trustKeys = admin.filter((a) => a.d.role === 'trust');
      const adminKeyIds = new Map<string, Uint8Array>();
      for (const t of trustKeys) if (t.d.event.type === 'AdminKeysTrusted') for (const k of t.d.event.data.keys) adminKeyIds.set(k.keyId, fromHexKey(k.publicKey));
      checkInclusions(
        admin.map(({ d, proof }) => ({ d, proof: proofHashes(proof, d.at, 'keys') })),
        cp,
        crypto,
        (d) => (d.role === 'trust' ? (chain.keys.find((k) => k.keyId === d.keyId)?.publicKey ?? null) : (adminKeyIds.get(d.keyId) ?? null)),
        'keys',
      );
      established = establishKeys(admin.map((a) => a.d), ledgerKey, crypto, 'keys', chain.keyAt);
      const c = established.counts;
      const lives = established.lives;
      steps.push({
        step: 'keys',
        detail: `${c.trust} trust, ${c.station} station${isCanonicalExportFormat(format) ? `, ${c.release} release and ${c.batch} batch` : ''} records included, chained and signed; ${[...lives.values()].reduce((n, l) => n + l.length, 0)} station key registration(s)`,
      });
      const committed = historyStep(cp);
      firmwareStep(h, cp, committed);
      return {
        format,
        history: committed,
        lives: [...lives.entries()],
        checkpoint: { origin: cp.origin, size: cp.size, root: toBase64(cp.root) },
        batches: isCanonicalExportFormat(format) ? [...established.batches.entries()] : null,
        selection: isCanonicalExportFormat(format) ? h.selection : null,
      };
    };

    for await (const bytes of lines) {
      lineNo++;
      if (failure) break;
      if (statement) throw new VerificationError('FORMAT_ERROR', 'format', `line ${lineNo}: nothing may follow the statement`, { line: lineNo });
      if (bytes.length > MAX_EXPORT_LINE_BYTES) throw new VerificationError('FORMAT_ERROR', 'format', `line ${lineNo} is longer than ${MAX_EXPORT_LINE_BYTES} bytes`, { line: lineNo });
      // Unit records, nearly all of the file, are parsed by the verifier; here they are only hashed.
      if (context && startsWith(bytes, UNIT_PREFIX[format])) {
        hash.update(bytes);
        records++;
        if (batch.add(lineNo, bytes) >= BATCH) await dispatch(batch.take(), context);
        continue;
      }
      const text = lineText(bytes, lineNo, MAX_EXPORT_LINE_BYTES);
      if (lineNo === 1) format = exportFormatOf(text);
      const rec = parseExportRecord(text, format, lineNo);
      if (rec.record === 'statement') {
        contentDigest = toHex(hash.digest());
        statement = { envelope: rec.envelope as Parameters<typeof verifyStatement>[0], line: lineNo };
        continue;
      }
      hash.update(bytes);
      records++;
      if (lineNo === 1) {
        if (rec.record !== 'header') throw new VerificationError('FORMAT_ERROR', 'format', 'line 1 must be the header', { line: 1 });
        if (rec.origin !== ledgerKey.name) throw new VerificationError('CHECKPOINT_ORIGIN_ERROR', 'format', `the header names origin ${rec.origin}, not the pinned ledger ${ledgerKey.name}`, { line: 1, field: 'origin' });
        header = rec;
        steps.push({ step: 'format', detail: `${format} from ${rec.origin}, created ${rec.createdAt}` });
        continue;
      }
      if (rec.record === 'header') throw new VerificationError('FORMAT_ERROR', 'format', `line ${lineNo}: a second header`, { line: lineNo });
      if (lineNo === 2) {
        if (rec.record !== 'checkpoint') throw new VerificationError('FORMAT_ERROR', 'format', 'line 2 must be the checkpoint', { line: 2 });
        checkpointNote = rec.note;
        // A checkpoint with no line by the pinned key may be by a successor of it (§5.4): it is verified once the
        // chain of ledger keys, among the records before the units, is read, and before anything rests on it.
        // Likewise one with no ML-DSA-44 line by the pinned ML-DSA-44 key: a successor's, by its chain (§5.5).
        if (!signedByKeyId(rec.note, pinnedKey)) continue;
        if (options.signatures?.mlDsaKey && !signedByKeyId(rec.note, options.signatures.mlDsaKey)) continue;
        checkpoint = checkpointStep(rec.note, pinnedKey);
        continue;
      }
      if (!checkpointNote || !header) throw new VerificationError('FORMAT_ERROR', 'format', 'missing checkpoint', { line: lineNo });
      if (rec.record === 'history') {
        if (lineNo !== 3) throw new VerificationError('FORMAT_ERROR', 'format', `line ${lineNo}: the history record is line 3, after the checkpoint`, { line: lineNo });
        historyRecord = rec;
        continue;
      }
      if (rec.record === 'firmware') {
        if (!hasFirmwareAnswer(format) || lineNo !== 4 + answer.parts) throw new VerificationError('FORMAT_ERROR', 'format', `line ${lineNo}: firmware records are lines 4 … of a ${EXPORT_FORMAT_V5} export, one after another right after the history record`, { line: lineNo });
        addFirmwarePart(answer, rec, lineNo);
        continue;
      }
      if (hasFirmwareAnswer(format) && lineNo === 4) throw new VerificationError('FORMAT_ERROR', 'format', `line 4 of a ${format} export must be its first firmware record, not a ${rec.record} record`, { line: 4, field: 'record' });
      if (hasHistory(format) && lineNo === 3) throw new VerificationError('FORMAT_ERROR', 'format', `line 3 of a ${format} export must be the history record, not a ${rec.record} record`, { line: 3, field: 'record' });
      if (rec.record === 'checkpoint') throw new VerificationError('FORMAT_ERROR', 'format', `line ${lineNo}: a second checkpoint`, { line: lineNo });
      if (rec.record !== 'unit') {
        if (context) throw new VerificationError('FORMAT_ERROR', 'format', `line ${lineNo}: ${rec.record} records must precede the units`, { line: lineNo });
        const kind: AdminRecordKind = rec.record;
        if (isCanonicalExportFormat(format)) {
          if (rec.leafIndex === lastAdminLeaf) throw new VerificationError('DUPLICATE_ENTRY', 'format', `line ${lineNo}: leaf ${rec.leafIndex} already has a record`, { line: lineNo, leafIndex: rec.leafIndex });
          if (rec.leafIndex < lastAdminLeaf) throw new VerificationError('FORMAT_ERROR', 'format', `line ${lineNo}: records before the units must be in log order, and leaf ${rec.leafIndex} follows leaf ${lastAdminLeaf}`, { line: lineNo, leafIndex: rec.leafIndex });
          lastAdminLeaf = rec.leafIndex;
        }
        const d = decodeEntry(kind, rec.leafIndex, rec.envelope, lineNo, { line: lineNo }, crypto);
        admin.push({ d, proof: rec.proof });
        continue;
      }
      // The first unit record (parsed here, in v2 already held to its RFC 8785 form), or a v1 unit record
      // whose members are in another order: the verifier parses it again, as any other.
      context ??= establish(header);
      batch.add(lineNo, bytes);
    }
    if (failure) throw failure;
    if (!header || !checkpointNote) throw new VerificationError('FORMAT_ERROR', 'format', 'the export is empty or truncated', { line: lineNo });
    context ??= establish(header);
    if (batch.lines.length > 0) await dispatch(batch.take(), context);
    await Promise.all(inFlight);
    if (failure) throw failure;
    if (isCanonicalExportFormat(format)) {
      const ends = [...batchEnds.entries()].sort(([a], [b]) => a - b).map(([, e]) => e);
      for (let i = 1; i < ends.length; i++) {
        const [a, b] = [(ends[i - 1] as { last: UnitResult }).last, (ends[i] as { first: UnitResult }).first];
        if (!(a.serial < b.serial)) throw unitOrderError(a, b);
      }
    }
    const keys = established as EstablishedKeys | null;
    if (!keys) throw new VerificationError('FORMAT_ERROR', 'format', 'the export has no key records');
    if (isCanonicalExportFormat(format)) {
      for (const b of keys.batches.keys()) if (!batchesUsed.has(b)) throw new VerificationError('FORMAT_ERROR', 'keys', `the batch record of ${b} is in the file, but no unit was scanned into it`, { stream: `batch-${b}` });
      const releasesNeeded = new Set(keys.batches.values());
      for (const r of keys.releases.keys()) if (!releasesNeeded.has(r)) throw new VerificationError('FORMAT_ERROR', 'keys', `the release record of ${r} is in the file, but no batch record names it`, { stream: `release-${r}` });
    }
    steps.push({ step: 'units', detail: `${unitCount} units, ${events} events: every event included, signed (RFC 8032 strict, ${crypto.name} Ed25519 on ${units.threads} thread(s)) by a key live at its leaf, chained in log order; summaries match the events${isCanonicalExportFormat(format) ? ' and batch records; every unit in the selection' : ''}${history ? `; every unit's events are all its events as of tree size ${history.size} (map proofs)` : ''}` });
    const firmwareAnswer = answerSets ? completenessStep(answerSets, header as NonNullable<typeof header>, checkpoint as Checkpoint, statement?.line ?? lineNo + 1) : undefined;

    if (!statement) throw new VerificationError('FORMAT_ERROR', 'statement', 'the export has no closing statement: it is truncated', { line: lineNo + 1 });
    const s = statement as { envelope: Parameters<typeof verifyStatement>[0]; line: number };
    const { statement: stmt, signatures: statementSignatures } = verifyStatement(s.envelope, format, ledgerKey, s.line, crypto, signaturePolicy);
    const p = stmt.predicate;
    const at = { line: s.line };
    if (p.content.sha256 !== contentDigest) {
      throw new VerificationError('CONTENT_DIGEST_ERROR', 'statement', `the file's records hash to ${contentDigest.slice(0, 16)}…, the signed statement says ${String(p.content.sha256).slice(0, 16)}…: records were changed, added or removed`, { ...at, field: 'statement.predicate.content.sha256' });
    }
    if (p.content.records !== records || p.content.units !== unitCount || p.content.events !== events) {
      throw new VerificationError('CONTENT_DIGEST_ERROR', 'statement', `counts differ from the statement (records ${records}/${p.content.records}, units ${unitCount}/${p.content.units}, events ${events}/${p.content.events})`, { ...at, field: 'statement.predicate.content' });
    }
    const h = header as NonNullable<typeof header>;
    const cp = checkpoint as Checkpoint;
    const mismatch = (field: string, detail: string) => new VerificationError('PREDICATE_MISMATCH', 'statement', `the statement's ${field} ${detail}`, { ...at, field: `statement.predicate.${field}` });
    if (p.origin !== h.origin) throw mismatch('origin', `is ${p.origin}, the header's ${h.origin}`);
    if (p.createdAt !== h.createdAt) throw mismatch('createdAt', `is ${p.createdAt}, the header's ${h.createdAt}`);
    if (canonicalize(p.selection) !== canonicalize(h.selection)) throw mismatch('selection', `is ${canonicalize(p.selection)}, the header's ${canonicalize(h.selection)}`);
    if (p.checkpoint.size !== cp.size || p.checkpoint.rootHash !== toHex(cp.root)) throw mismatch('checkpoint', `names tree ${p.checkpoint.size} ${p.checkpoint.rootHash.slice(0, 16)}…, the file's checkpoint is tree ${cp.size} ${toHex(cp.root).slice(0, 16)}…`);
    checkSubjects(stmt, firmware, format, s.line);
    if (isCanonicalExportFormat(format)) {
      const expected = [...releasesUsed].sort().flatMap((releaseId) => {
        const sbom = keys.releases.get(releaseId)?.sbomSha256;
        return sbom ? [{ releaseId, sha256: sbom, mediaType: 'application/vnd.cyclonedx+json' }] : [];
      });
      if (canonicalize(p.sboms) !== canonicalize(expected)) throw mismatch('sboms', `are ${canonicalize(p.sboms)}, the release records of the exported units say ${canonicalize(expected)}`);
    }
    const verifierPage = hasHybridStatement(format) ? checkVerifierPage(p.verifierPage, options.verifierPage, at, crypto) : undefined;
    if (!hasHybridStatement(format) && options.verifierPage !== undefined) {
      throw new VerificationError('VERIFIER_PAGE_MISMATCH', 'statement', `a verifier page was given, but a ${format} statement names no page (from ${EXPORT_FORMAT_V3} on, it does)`, { ...at, field: 'statement.predicate' });
    }
    steps.push({ step: 'statement', detail: `in-toto Statement signed by the ledger key with ${statementSignatures.join(' + ')} commits to the content (sha256 ${contentDigest.slice(0, 16)}…, ${records} records), the header, the checkpoint and exactly the ${stmt.subject.length} firmware subject(s) the events support${verifierPage ? `; verifier page ${verifierPage.sha256 === null ? 'none' : `sha256 ${verifierPage.sha256}${verifierPage.checked ? ' (the page given matches)' : ' (no page given to compare)'}`}` : ''}` });
    const names = new Map(stmt.subject.map((x) => [x.digest.sha256, x.name]));
    return {
      format,
      origin: h.origin,
      checkpoint: { size: cp.size, root: toHex(cp.root) },
      units: unitCount,
      events,
      stations: [...stations].sort(),
      firmware: [...firmware.values()]
        .sort((a, b) => (a.claim.sha256 === b.claim.sha256 ? a.claim.kind.localeCompare(b.claim.kind) : a.claim.sha256 < b.claim.sha256 ? -1 : 1))
        .map(({ claim, units: n }) => ({ sha256: claim.sha256, kind: claim.kind, name: isCanonicalExportFormat(format) ? subjectName(claim) : (names.get(claim.sha256) ?? claim.kind), units: n, approvedBy: approvers(keys, claim) })),
      createdAt: h.createdAt,
      selection: h.selection,
      threads: units.threads,
      crypto: crypto.name,
      steps,
      signatures: algorithms,
      statementSignatures,
      ...(verifierPage ? { verifierPage } : {}),
      notProven: notProvenWith(
        (format === EXPORT_FORMAT_V1 ? [...NOT_PROVEN_V1, ...NOT_PROVEN_ALWAYS] : NOT_PROVEN_ALWAYS)
          .filter((n) => !history || n !== NOT_PROVEN_COMPLETE)
          .filter((n) => !firmwareAnswer?.complete || n !== NOT_PROVEN_ALL_UNITS)
          .map((n) => (firmwareAnswer?.proved && !firmwareAnswer.complete && n === NOT_PROVEN_ALL_UNITS ? `that each of the ${firmwareAnswer.leftOut} unit(s) of the proved firmware answer left out of the file falls outside the selection's ${firmwareAnswer.narrowedBy.join(', ')}` : n))
          .map((n) => (history && n.startsWith('that the checkpoint is the newest') ? `${n}: each unit's history is complete as of tree size ${history.size} only` : n)),
        witnesses,
      ),
      ...(history ? { history } : {}),
      ...(firmwareAnswer ? { firmwareAnswer } : {}),
      ...(witnesses ? { witnesses } : {}),
      ...(freshness ? { freshness } : {}),
    };
  } finally {
    await Promise.allSettled(inFlight);
    await units.close();
  }
}

/** The releases in the file that approve an image for its kind: a drifted image has none. */
function approvers(keys: EstablishedKeys, claim: FirmwareClaim): string[] {
  return [...keys.releases.entries()].filter(([, r]) => r.images.get(claim.kind) === claim.sha256).map(([id]) => id).sort();
}

function fromHexKey(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function withLine<T>(f: () => T, line: number): T {
  try {
    return f();
  } catch (error) {
    if (error instanceof VerificationError) throw error.within(`line ${line}`, { line });
    throw error;
  }
}

function unitOrderError(a: UnitResult, b: UnitResult): VerificationError {
  if (a.serial === b.serial) return new VerificationError('DUPLICATE_ENTRY', 'units', `line ${b.line}: unit ${b.serial} already has a record, at line ${a.line}`, { line: b.line, serial: b.serial });
  return new VerificationError('FORMAT_ERROR', 'units', `line ${b.line}: unit records must be in serial order, and ${b.serial} follows ${a.serial} (line ${a.line})`, { line: b.line, serial: b.serial });
}

/**
 * Subjects are exactly what the events support, both ways: in v2 one per (kind, image), named from the lowest
 * leaf that reported it and sorted by digest then name; in v1 one per image digest, names not checked.
 */
function checkSubjects(stmt: InTotoStatement, firmware: Map<string, { claim: FirmwareClaim }>, format: ExportFormat, line: number): void {
  const at = { line, field: 'statement.subject' };
  if (isCanonicalExportFormat(format)) {
    const expected = [...firmware.values()].map(({ claim }) => ({ name: subjectName(claim), digest: { sha256: claim.sha256 } }));
    expected.sort((a, b) => (a.digest.sha256 === b.digest.sha256 ? (a.name < b.name ? -1 : a.name > b.name ? 1 : 0) : a.digest.sha256 < b.digest.sha256 ? -1 : 1));
    const count = Math.max(expected.length, stmt.subject.length);
    for (let i = 0; i < count; i++) {
      const [want, got] = [expected[i], stmt.subject[i]];
      if (want && got && want.name === got.name && want.digest.sha256 === got.digest.sha256) continue;
      const describe = (x: typeof want) => (x ? `"${x.name}" ${x.digest.sha256.slice(0, 16)}…` : 'nothing');
      throw new VerificationError('SUBJECT_MISMATCH', 'statement', `subject ${i} is ${describe(got)}, but the exported events support ${describe(want)} there`, { ...at, field: `statement.subject[${i}]` });
    }
    return;
  }
  const supported = new Set([...firmware.values()].map(({ claim }) => claim.sha256));
  const named = new Set<string>();
  stmt.subject.forEach((x, i) => {
    if (named.has(x.digest.sha256)) throw new VerificationError('SUBJECT_MISMATCH', 'statement', `subject ${i} (${x.digest.sha256.slice(0, 16)}…) is listed twice`, { ...at, field: `statement.subject[${i}]` });
    named.add(x.digest.sha256);
    if (!supported.has(x.digest.sha256)) throw new VerificationError('SUBJECT_MISMATCH', 'statement', `subject ${i} "${x.name}" (${x.digest.sha256.slice(0, 16)}…) is carried by no exported unit: no BootloaderWritten or passing AppVerified names it`, { ...at, field: `statement.subject[${i}]` });
  });
  for (const sha of supported) {
    if (!named.has(sha)) throw new VerificationError('SUBJECT_MISMATCH', 'statement', `firmware ${sha.slice(0, 16)}… carried by exported units is not a subject of the statement`, at);
  }
}

/** Whether the note has a signature line by this key (name and id): whether it can be verified with it at all. */
function signedByKeyId(note: string, key: { readonly name: string; readonly id: string }): boolean {
  try {
    return parseNote(note).signatures.some((s) => s.name === key.name && s.id === key.id);
  } catch {
    return true; // malformed: the checkpoint step names what is wrong with it
  }
}

/**
 * Adds one firmware record to the answer (§7.6.3): the same digest and map proof in every part, every part but the
 * last full, an empty part only alone, each list strictly ascending across parts, at most 1,000,000 serials.
 */
export interface FirmwareAnswerParts {
  sha256: string;
  firmware: FirmwareRecord['firmware'] | null;
  readonly now: string[];
  readonly formerly: string[];
  parts: number;
  lastPartSize: number;
}

export const emptyFirmwareAnswer = (): FirmwareAnswerParts => ({ sha256: '', firmware: null, now: [], formerly: [], parts: 0, lastPartSize: 0 });

export function addFirmwarePart(answer: FirmwareAnswerParts, rec: FirmwareRecord, line: number): void {
  const at = { line };
  const size = rec.now.length + rec.formerly.length;
  if (size > FIRMWARE_PART_SERIALS) throw new VerificationError('FORMAT_ERROR', 'format', `line ${line}: a firmware record holds at most ${FIRMWARE_PART_SERIALS} serials, not ${size}`, at);
  if (answer.parts > 0) {
    if (rec.sha256 !== answer.sha256 || canonicalize(rec.firmware) !== canonicalize(answer.firmware)) throw new VerificationError('FORMAT_ERROR', 'format', `line ${line}: every part of the firmware answer has the digest and map proof of the first (line 4)`, { ...at, field: rec.sha256 !== answer.sha256 ? 'sha256' : 'firmware' });
    if (answer.lastPartSize !== FIRMWARE_PART_SERIALS) throw new VerificationError('FORMAT_ERROR', 'format', `line ${line}: a firmware record follows one of ${answer.lastPartSize} serials, and every part but the last holds ${FIRMWARE_PART_SERIALS}`, at);
    if (size === 0) throw new VerificationError('FORMAT_ERROR', 'format', `line ${line}: an empty firmware record is allowed only as the whole answer`, at);
  }
  if (answer.now.length + answer.formerly.length + size > FIRMWARE_ANSWER_MAX_SERIALS) throw new VerificationError('FORMAT_ERROR', 'format', `line ${line}: a firmware answer holds at most ${FIRMWARE_ANSWER_MAX_SERIALS} serials`, at);
  for (const [list, into] of [['now', answer.now], ['formerly', answer.formerly]] as const) {
    for (const [i, serial] of rec[list].entries()) {
      const before = into[into.length - 1];
      if (before !== undefined && !(before < serial)) throw new VerificationError('FORMAT_ERROR', 'format', `line ${line}: the firmware answer's ${list} list must be strictly ascending, and ${serial} follows ${before}`, { ...at, field: `${list}[${i}]`, serial });
      into.push(serial);
    }
  }
  if (answer.parts === 0) {
    answer.sha256 = rec.sha256;
    answer.firmware = rec.firmware;
  }
  answer.parts++;
  answer.lastPartSize = size;
}

/** Both sorted lists of an answer as one ascending walk, each serial with the list it is in. */
function* mergedSerials(now: readonly string[], formerly: readonly string[]): Generator<[string, 'now' | 'formerly']> {
  let i = 0;
  let j = 0;
  while (i < now.length || j < formerly.length) {
    const a = now[i];
    const b = formerly[j];
    if (b === undefined || (a !== undefined && a < b)) {
      yield [a as string, 'now'];
      i++;
    } else {
      yield [b, 'formerly'];
      j++;
    }
  }
}
