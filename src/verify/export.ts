/**
 * Verification of a signed traceability export (format in export-format.ts), as one pipeline of named
 * steps over a stream of lines. Pure: no Node-only APIs, so the CLI, the standalone verifier and the
 * browser page run the same code. Where unit records are verified is up to a `UnitRecordVerifier`: in the
 * calling thread (`inlineUnitVerifier`), or spread over worker threads by the caller (Node worker_threads,
 * Web Workers), each of which runs `verifyUnitLine` below.
 *
 * Steps: format → checkpoint → keys (trust and station records) → units → statement.
 * Memory stays bounded: a caller's verifier may hold only a few batches of unit records in flight.
 */
import type { DsseEnvelope } from '../crypto/dsse.ts';
import { verifyEnvelopeSignature } from '../crypto/dsse.ts';
import { fromBase64, fromUtf8, toBase64, toHex } from '../crypto/encoding.ts';
import { portableCrypto, type CryptoBackend } from '../crypto/backend.ts';
import type { Checkpoint } from '../tlog/checkpoint.ts';
import type { NoteKey } from '../tlog/note.ts';
import { VerificationError } from './errors.ts';
import { checkCheckpoint, type StepReport } from './provenance.ts';
import { checkInclusion, decodeEntry, establishKeys, verifyUnitEvents, type Decoded, type KeyLives, type StationKeyLife, type UnitSummary } from './steps.ts';
import { EXPORT_FORMAT, EXPORT_PREDICATE_TYPE, IN_TOTO_PAYLOAD_TYPE, IN_TOTO_STATEMENT_TYPE, type ExportRecord, type InTotoStatement, type LoggedEnvelope } from './export-format.ts';

export type UnitRecord = Extract<ExportRecord, { record: 'unit' }>;

export interface UnitResult extends UnitSummary {
  readonly serial: string;
  readonly events: number;
}

/** One unit record line, as bytes (its trailing newline may be included), with its 1-based line number. */
export interface UnitLine {
  readonly line: number;
  readonly bytes: Uint8Array;
}

/** What a unit record is verified against; structured-clone friendly, so it can travel to a worker. */
export interface UnitContext {
  readonly lives: readonly (readonly [string, StationKeyLife])[];
  readonly checkpoint: { readonly origin: string; readonly size: number; readonly root: string };
}

/**
 * Verifies batches of unit record lines. `verify` may run them anywhere; it resolves with one result per
 * line, in order, or rejects with the VerificationError of the first failing unit.
 */
export interface UnitRecordVerifier {
  readonly threads: number;
  verify(batch: readonly UnitLine[], context: UnitContext): Promise<UnitResult[]>;
  close(): Promise<void>;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The context as a verifier uses it; callers that keep it across batches (workers) cache the result. */
export function unitContextOf(context: UnitContext): { lives: KeyLives; checkpoint: Checkpoint } {
  return {
    lives: new Map(context.lives.map(([k, v]) => [k, { ...v }])),
    checkpoint: { origin: context.checkpoint.origin, size: context.checkpoint.size, root: fromBase64(context.checkpoint.root) },
  };
}

/** Parses and verifies one unit record line. */
export function verifyUnitLine(unit: UnitLine, lives: KeyLives, checkpoint: Checkpoint, crypto: CryptoBackend): UnitResult {
  let record: UnitRecord;
  try {
    record = JSON.parse(strictUtf8.decode(unit.bytes)) as UnitRecord;
  } catch {
    throw new VerificationError('FORMAT_ERROR', 'format', `line ${unit.line} is not JSON`, { line: unit.line });
  }
  return verifyUnitRecord(record, unit.line, lives, checkpoint, crypto);
}

/** One unit: every event signed by a live key, chained, in log order, and included under the checkpoint. */
export function verifyUnitRecord(record: UnitRecord, line: number, lives: KeyLives, checkpoint: Checkpoint, crypto: CryptoBackend): UnitResult {
  try {
    if (record === null || typeof record !== 'object' || typeof record.serial !== 'string' || !Array.isArray(record.events) || record.events.length === 0) {
      throw new VerificationError('FORMAT_ERROR', 'unit', `line ${line}: a unit record needs a serial and its events`);
    }
    const decoded = record.events.map((e, i) => decodeEntry('unit', e?.leafIndex, e?.envelope, i, crypto));
    const summary = verifyUnitEvents(record.serial, decoded, lives, crypto);
    decoded.forEach((d, i) => {
      const proof = (record.events[i] as { proof: unknown }).proof;
      if (!Array.isArray(proof)) throw new VerificationError('INCLUSION_PROOF_ERROR', 'inclusion', `event ${i} has no proof`);
      checkInclusion(d, proof.map((p) => fromBase64(String(p))), checkpoint, crypto);
    });
    return { serial: record.serial, events: decoded.length, ...summary };
  } catch (error) {
    const serial = typeof record?.serial === 'string' ? record.serial : '?';
    if (error instanceof VerificationError) {
      throw new VerificationError(error.code, error.step, `line ${line}, unit ${serial}: ${error.message}`, { ...error.location, serial, line });
    }
    throw new VerificationError('FORMAT_ERROR', 'unit', `line ${line}: ${(error as Error).message}`, { line });
  }
}

/** Verifies unit records in the calling thread. */
export function inlineUnitVerifier(crypto: CryptoBackend = portableCrypto): UnitRecordVerifier {
  let cached: { context: UnitContext; value: ReturnType<typeof unitContextOf> } | null = null;
  return {
    threads: 1,
    verify: (batch, context) => {
      if (cached?.context !== context) cached = { context, value: unitContextOf(context) };
      const { lives, checkpoint } = cached.value;
      try {
        return Promise.resolve(batch.map((u) => verifyUnitLine(u, lives, checkpoint, crypto)));
      } catch (error) {
        return Promise.reject(error as Error);
      }
    },
    close: () => Promise.resolve(),
  };
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

export interface ExportReport {
  readonly origin: string;
  readonly checkpoint: { size: number; root: string };
  readonly units: number;
  readonly events: number;
  readonly stations: string[];
  readonly firmware: { sha256: string; name: string; units: number }[];
  readonly createdAt: string;
  readonly threads: number;
  readonly crypto: CryptoBackend['name'];
  readonly steps: StepReport[];
}

export interface VerifyExportOptions {
  readonly crypto?: CryptoBackend;
  /** Where unit records are verified; inline on `crypto` by default. The pipeline closes it at the end. */
  readonly units?: UnitRecordVerifier;
  readonly onProgress?: (units: number, events: number) => void;
}

/** Unit records per batch handed to the verifier. */
const BATCH = 256;
const UNIT_PREFIX = utf8Bytes('{"record":"unit"');

function utf8Bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  if (bytes.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}

/**
 * Verifies an export given as its lines, in file order, each as bytes including its newline. Every byte
 * before the statement line is hashed as it passes, and unit records go to the verifier undecoded, so the
 * reading side hashes bytes and little more.
 */
export async function verifyExportLines(lines: AsyncIterable<Uint8Array>, ledgerKey: NoteKey, options: VerifyExportOptions = {}): Promise<ExportReport> {
  const crypto = options.crypto ?? portableCrypto;
  const units = options.units ?? inlineUnitVerifier(crypto);
  const steps: StepReport[] = [];
  const hash = crypto.sha256Stream();
  const inFlight = new Set<Promise<void>>();
  let failure: VerificationError | null = null;
  const firmware = new Map<string, { name: string; units: number }>();
  const stations = new Set<string>();
  let unitCount = 0;
  let events = 0;

  const record = (results: UnitResult[]) => {
    for (const r of results) {
      unitCount++;
      events += r.events;
      r.stations.forEach((s) => stations.add(s));
      for (const sha of r.bootloader) firmware.set(sha, { name: firmware.get(sha)?.name ?? 'bootloader', units: (firmware.get(sha)?.units ?? 0) + 1 });
      for (const sha of r.application) firmware.set(sha, { name: firmware.get(sha)?.name ?? 'application', units: (firmware.get(sha)?.units ?? 0) + 1 });
    }
    options.onProgress?.(unitCount, events);
  };
  const dispatch = async (batch: UnitLine[], context: UnitContext) => {
    const done = units.verify(batch, context).then(record, (error: unknown) => {
      failure ??= error instanceof VerificationError ? error : new VerificationError('FORMAT_ERROR', 'unit', (error as Error).message);
    });
    inFlight.add(done);
    void done.then(() => inFlight.delete(done));
    while (inFlight.size >= units.threads * 2) await Promise.race(inFlight);
  };

  try {
    let lineNo = 0;
    let records = 0;
    let header: Extract<ExportRecord, { record: 'header' }> | null = null;
    let checkpoint: Checkpoint | null = null;
    const trust: Decoded[] = [];
    const stationEntries: Decoded[] = [];
    const logged: { d: Decoded; proof: readonly unknown[] }[] = [];
    let context: UnitContext | null = null;
    let batch: UnitLine[] = [];
    let statementEnvelope: DsseEnvelope | null = null;
    let contentDigest = '';

    // Once the trust and station records are read (before the first unit, or at the end of an export without
    // units): establish the keys and check those records' inclusion.
    const establish = (cp: Checkpoint): UnitContext => {
      const lives = establishKeys(trust, stationEntries, ledgerKey, crypto);
      for (const { d, proof } of logged) {
        if (!Array.isArray(proof)) throw new VerificationError('INCLUSION_PROOF_ERROR', 'keys', `line ${d.position}: no proof`, { line: d.position });
        checkInclusion(d, proof.map((p) => fromBase64(String(p))), cp, crypto);
      }
      steps.push({ step: 'keys', detail: `${trust.length} trust and ${stationEntries.length} station records signed and included; ${lives.size} station key(s)` });
      return { lives: [...lives.entries()], checkpoint: { origin: cp.origin, size: cp.size, root: toBase64(cp.root) } };
    };

    for await (const bytes of lines) {
      lineNo++;
      if (failure) break;
      if (statementEnvelope) throw new VerificationError('FORMAT_ERROR', 'format', `line ${lineNo}: nothing may follow the statement`, { line: lineNo });
      // Unit records, nearly all of the file, are parsed by the verifier; here they are only hashed.
      if (context && startsWith(bytes, UNIT_PREFIX)) {
        hash.update(bytes);
        records++;
        // A copy, so that the chunk it came from can be freed while the batch waits for a thread.
        batch.push({ line: lineNo, bytes: bytes.slice() });
        if (batch.length >= BATCH) {
          await dispatch(batch, context);
          batch = [];
        }
        continue;
      }
      let rec: ExportRecord;
      try {
        rec = JSON.parse(strictUtf8.decode(bytes)) as ExportRecord;
      } catch {
        throw new VerificationError('FORMAT_ERROR', 'format', `line ${lineNo} is not JSON`, { line: lineNo });
      }
      if (rec === null || typeof rec !== 'object') throw new VerificationError('FORMAT_ERROR', 'format', `line ${lineNo} is not a record`, { line: lineNo });
      if (rec.record === 'statement') {
        contentDigest = toHex(hash.digest());
        statementEnvelope = rec.envelope;
        continue;
      }
      hash.update(bytes);
      records++;
      if (lineNo === 1) {
        if (rec.record !== 'header' || rec.format !== EXPORT_FORMAT) throw new VerificationError('FORMAT_ERROR', 'format', `not a ${EXPORT_FORMAT} file`, { line: 1 });
        header = rec;
        steps.push({ step: 'format', detail: `${EXPORT_FORMAT} from ${rec.origin}, created ${rec.createdAt}` });
        continue;
      }
      if (lineNo === 2) {
        if (rec.record !== 'checkpoint') throw new VerificationError('FORMAT_ERROR', 'format', 'line 2 must be the checkpoint', { line: 2 });
        checkpoint = checkCheckpoint(rec.note, ledgerKey, crypto);
        steps.push({ step: 'checkpoint', detail: `signed by ${ledgerKey.name} (${ledgerKey.id}): tree size ${checkpoint.size}, root ${toHex(checkpoint.root).slice(0, 16)}…` });
        continue;
      }
      if (!checkpoint) throw new VerificationError('FORMAT_ERROR', 'format', 'missing checkpoint');
      if (rec.record === 'trust' || rec.record === 'station') {
        if (context) throw new VerificationError('FORMAT_ERROR', 'format', `line ${lineNo}: ${rec.record} records must precede the units`, { line: lineNo });
        const logEntry = rec as LoggedEnvelope;
        const d = decodeEntry(rec.record, logEntry.leafIndex, logEntry.envelope, lineNo, crypto);
        (rec.record === 'trust' ? trust : stationEntries).push(d);
        logged.push({ d, proof: logEntry.proof });
        continue;
      }
      if (rec.record !== 'unit') throw new VerificationError('FORMAT_ERROR', 'format', `line ${lineNo}: unknown record ${String((rec as { record: unknown }).record)}`, { line: lineNo });
      context ??= establish(checkpoint);
      batch.push({ line: lineNo, bytes: bytes.slice() });
    }
    if (failure) throw failure;
    if (!context && checkpoint) context = establish(checkpoint);
    if (batch.length > 0 && context) await dispatch(batch, context);
    await Promise.all(inFlight);
    if (failure) throw failure;
    if (!header || !checkpoint) throw new VerificationError('FORMAT_ERROR', 'format', 'the export is empty or truncated');
    steps.push({ step: 'units', detail: `${unitCount} units, ${events} events: signatures valid (RFC 8032 strict, ${crypto.name} Ed25519 on ${units.threads} thread(s)), keys live, chains unbroken, every event included` });

    if (!statementEnvelope) throw new VerificationError('FORMAT_ERROR', 'statement', 'the export has no closing statement: it is truncated');
    const statement = verifyStatement(statementEnvelope, ledgerKey, crypto);
    const p = statement.predicate;
    if (p.content.sha256 !== contentDigest) {
      throw new VerificationError('CONTENT_DIGEST_ERROR', 'statement', `the file's records hash to ${contentDigest.slice(0, 16)}…, the signed statement says ${String(p.content.sha256).slice(0, 16)}…: records were changed, added or removed`);
    }
    if (p.content.records !== records || p.content.units !== unitCount || p.content.events !== events) {
      throw new VerificationError('CONTENT_DIGEST_ERROR', 'statement', `counts differ from the statement (records ${records}/${p.content.records}, units ${unitCount}/${p.content.units}, events ${events}/${p.content.events})`);
    }
    if (p.checkpoint.size !== checkpoint.size || p.checkpoint.rootHash !== toHex(checkpoint.root)) {
      throw new VerificationError('CONTENT_DIGEST_ERROR', 'statement', 'the statement names another checkpoint than the file');
    }
    const subjects = new Set(statement.subject.map((s) => s.digest.sha256));
    for (const sha of firmware.keys()) {
      if (!subjects.has(sha)) throw new VerificationError('SUBJECT_MISMATCH', 'statement', `firmware ${sha.slice(0, 16)}… carried by exported units is not a subject of the statement`);
    }
    for (const s of statement.subject) {
      const f = firmware.get(s.digest.sha256);
      if (f) f.name = s.name;
    }
    steps.push({ step: 'statement', detail: `in-toto Statement signed by the ledger key commits to the content (sha256 ${contentDigest.slice(0, 16)}…, ${records} records) and ${statement.subject.length} firmware subject(s)` });
    return {
      origin: header.origin,
      checkpoint: { size: checkpoint.size, root: toHex(checkpoint.root) },
      units: unitCount,
      events,
      stations: [...stations].sort(),
      firmware: [...firmware.entries()].map(([sha256, f]) => ({ sha256, ...f })),
      createdAt: header.createdAt,
      threads: units.threads,
      crypto: crypto.name,
      steps,
    };
  } finally {
    await Promise.allSettled(inFlight);
    await units.close();
  }
}
