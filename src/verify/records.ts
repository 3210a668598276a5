/**
 * From bytes to records, for documents handed to a verifier: strict UTF-8, JSON, the published schema of the
 * record (schemas/export.ts, schemas/provenance.ts; unknown members refused), and in v2 the RFC 8785 form.
 * Every failure is a VerificationError naming the line and the member; nothing here throws anything else.
 * Envelopes are left for the ledger's own decoder (steps.ts → decodeUntrustedEnvelope), which gives them
 * their own codes.
 */
import { z } from 'zod';
import {
  ExportBatch,
  ExportCheckpoint,
  ExportHeaderV1,
  ExportHeaderV2,
  ExportRelease,
  ExportStation,
  ExportStatement,
  ExportTrust,
  ExportUnitV1,
  ExportUnitV2,
  LoggedEnvelope,
  EXPORT_FORMAT_V1,
  EXPORT_FORMAT_V2,
  EXPORT_FORMAT_V3,
  ExportHeaderV3,
  ExportStatementV3,
  EXPORT_FORMAT_V4,
  EXPORT_FORMAT_V5,
  ExportFirmware,
  ExportHeaderV4,
  ExportHeaderV5,
  ExportHistory,
  ExportUnitV4,
} from '../../schemas/export.ts';
import { ProvenanceDocumentV1, ProvenanceDocumentV2, ProvenanceDocumentV3, PROVENANCE_FORMAT_V1, PROVENANCE_FORMAT_V2, PROVENANCE_FORMAT_V3 } from '../../schemas/provenance.ts';
import { canonicalize, CanonicalizationError } from '../crypto/jcs.ts';
import { fromBase64 } from '../crypto/encoding.ts';
import type { Hash } from '../merkle/hash.ts';
import { VerificationError, type FailureLocation } from './errors.ts';
import type { ExportFormat, ExportRecord, UnitRecord } from './export-format.ts';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

const looseEnvelope = { envelope: z.unknown() };
const loggedLoose = <S extends typeof ExportTrust | typeof ExportStation | typeof ExportRelease | typeof ExportBatch>(s: S) => s.extend(looseEnvelope);
const unitLoose = (s: typeof ExportUnitV2 | typeof ExportUnitV1 | typeof ExportUnitV4) => s.extend({ events: z.array(LoggedEnvelope.extend(looseEnvelope)).min(1) });

const RECORD_SCHEMAS = {
  [EXPORT_FORMAT_V2]: z.discriminatedUnion('record', [ExportHeaderV2, ExportCheckpoint, loggedLoose(ExportTrust), loggedLoose(ExportStation), loggedLoose(ExportRelease), loggedLoose(ExportBatch), unitLoose(ExportUnitV2), ExportStatement]),
  [EXPORT_FORMAT_V3]: z.discriminatedUnion('record', [ExportHeaderV3, ExportCheckpoint, loggedLoose(ExportTrust), loggedLoose(ExportStation), loggedLoose(ExportRelease), loggedLoose(ExportBatch), unitLoose(ExportUnitV2), ExportStatementV3]),
  [EXPORT_FORMAT_V4]: z.discriminatedUnion('record', [ExportHeaderV4, ExportCheckpoint, ExportHistory, loggedLoose(ExportTrust), loggedLoose(ExportStation), loggedLoose(ExportRelease), loggedLoose(ExportBatch), unitLoose(ExportUnitV4), ExportStatementV3]),
  [EXPORT_FORMAT_V5]: z.discriminatedUnion('record', [ExportHeaderV5, ExportCheckpoint, ExportHistory, ExportFirmware, loggedLoose(ExportTrust), loggedLoose(ExportStation), loggedLoose(ExportRelease), loggedLoose(ExportBatch), unitLoose(ExportUnitV4), ExportStatementV3]),
  [EXPORT_FORMAT_V1]: z.discriminatedUnion('record', [ExportHeaderV1, ExportCheckpoint, loggedLoose(ExportTrust), loggedLoose(ExportStation), unitLoose(ExportUnitV1), ExportStatement]),
} as const;

/** `a.b[2].c` from a zod issue path. */
export function pathText(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i > 0 ? '.' : ''}${String(p)}`)).join('');
}

function schemaFailure(error: z.ZodError, what: string, at: FailureLocation, step: string): VerificationError {
  const issue = error.issues[0];
  const field = issue ? pathText(issue.path) : '';
  return new VerificationError('FORMAT_ERROR', step, `${what}: ${field || '(root)'}: ${issue?.message ?? 'invalid'}`, { ...at, ...(field ? { field } : {}) });
}

/**
 * Parses JSON text. V8's JSON.parse does not recurse, so depth needs no bound here; what walks the value
 * afterwards is bounded (schemas of fixed depth, RFC 8785 at 64 levels, the envelope decoder on its own).
 */
export function parseJsonText(text: string, what: string, at: FailureLocation, step = 'format'): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new VerificationError('FORMAT_ERROR', step, `${what} is not JSON: ${(error as Error).message}`, at);
  }
}

/** A line of an export, its newline included: strict UTF-8, ends with LF, no other line break or surrounding space. */
export function lineText(bytes: Uint8Array, line: number, maxBytes: number): string {
  const at = { line };
  if (bytes.length > maxBytes) throw new VerificationError('FORMAT_ERROR', 'format', `line ${line} is longer than ${maxBytes} bytes`, at);
  if (bytes[bytes.length - 1] !== 0x0a) throw new VerificationError('FORMAT_ERROR', 'format', `line ${line} does not end with a newline (LF): every line, the last too, must`, at);
  let text: string;
  try {
    text = strictUtf8.decode(bytes.subarray(0, bytes.length - 1));
  } catch {
    throw new VerificationError('FORMAT_ERROR', 'format', `line ${line} is not UTF-8`, at);
  }
  if (text.length === 0) throw new VerificationError('FORMAT_ERROR', 'format', `line ${line} is empty`, at);
  if (text.charCodeAt(0) !== 0x7b || text.charCodeAt(text.length - 1) !== 0x7d) {
    throw new VerificationError('FORMAT_ERROR', 'format', `line ${line} must be one JSON object with nothing before or after it on the line (no BOM, CR or spaces)`, at);
  }
  return text;
}

/**
 * One record of an export of the given format, from its line text. In v2 the text must be the record's RFC 8785
 * form; `canonical: 'later'` leaves that check to the caller (unit records: see unitRecordText).
 */
export function parseExportRecord(text: string, format: ExportFormat, line: number, canonical: 'now' | 'later' = 'now'): ExportRecord {
  const at = { line };
  const value = parseJsonText(text, `line ${line}`, at);
  const parsed = RECORD_SCHEMAS[format].safeParse(value);
  if (!parsed.success) {
    const kind = typeof (value as { record?: unknown } | null)?.record === 'string' ? `${(value as { record: string }).record} record` : 'record';
    throw schemaFailure(parsed.error, `line ${line} is not a ${format} ${kind}`, at, 'format');
  }
  if (format !== EXPORT_FORMAT_V1 && canonical === 'now') checkCanonical(value, text, `line ${line}`, at);
  return parsed.data as ExportRecord;
}

const IDENTIFIER = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;
const MAC = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/;
const BASE64_HASH = /^[A-Za-z0-9+/]{43}=$/;
const UNIT_MEMBERS = ['batchId', 'chipId', 'events', 'mac', 'record', 'releaseId', 'serial'];
const UNIT_MEMBERS_V4 = ['batchId', 'chipId', 'events', 'history', 'mac', 'record', 'releaseId', 'serial'];
const HISTORY_MEMBERS = ['proof', 'value'];
/** Canonical base64 (RFC 4648 §4, padded), as schemas/history.ts has it. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const EVENT_MEMBERS = ['envelope', 'leafIndex', 'proof'];
const isPlain = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const hasExactly = (v: Record<string, unknown>, members: readonly string[]) => Object.keys(v).length === members.length && members.every((m) => Object.hasOwn(v, m));
const identifierOrNull = (v: unknown) => v === null || (typeof v === 'string' && IDENTIFIER.test(v));

/** ExportUnitV4's history: exactly UnitMapProof of schemas/history.ts. */
export function isWellFormedUnitMapProof(h: unknown): h is { value: string | null; proof: string } {
  if (!isPlain(h) || !hasExactly(h, HISTORY_MEMBERS)) return false;
  const [value, proof] = [h['value'], h['proof']];
  return (value === null || (typeof value === 'string' && value.length <= 128 && BASE64.test(value))) && typeof proof === 'string' && proof.length <= 32_768 && BASE64.test(proof);
}

/**
 * Exactly ExportUnitV2 of schemas/export.ts with the envelopes left to their decoder: true only for values that
 * schema accepts (test/crypto-properties.unit.test.ts holds the two together). Never the only check: on false,
 * the schema runs and says what is wrong.
 */
export function isWellFormedUnitV2(v: unknown, withHistory = false): v is UnitRecord {
  if (!isPlain(v) || !hasExactly(v, withHistory ? UNIT_MEMBERS_V4 : UNIT_MEMBERS) || v['record'] !== 'unit') return false;
  if (withHistory && !isWellFormedUnitMapProof(v['history'])) return false;
  if (typeof v['serial'] !== 'string' || !IDENTIFIER.test(v['serial']) || !identifierOrNull(v['batchId']) || !identifierOrNull(v['releaseId'])) return false;
  const chipId = v['chipId'];
  if (chipId !== null && !(typeof chipId === 'string' && chipId.length >= 1 && chipId.length <= 64)) return false;
  const mac = v['mac'];
  if (mac !== null && !(typeof mac === 'string' && MAC.test(mac))) return false;
  const events = v['events'];
  if (!Array.isArray(events) || events.length === 0) return false;
  for (const e of events) {
    if (!isPlain(e) || !hasExactly(e, EVENT_MEMBERS)) return false;
    const leafIndex = e['leafIndex'];
    if (typeof leafIndex !== 'number' || !Number.isSafeInteger(leafIndex) || leafIndex < 0) return false;
    const proof = e['proof'];
    if (!Array.isArray(proof) || proof.length > 64 || !proof.every((p) => typeof p === 'string' && BASE64_HASH.test(p))) return false;
  }
  return true;
}

/**
 * Whether `text` is the RFC 8785 text of a v2 unit record whose schema is checked: the same answer as
 * canonicalize(record) === text, read off piece by piece against the record (no second walk, no copy), on the hot
 * path of export verification. It relies on the schema: exactly these members; strings that are identifiers,
 * MACs, hashes or base64 (JSON.stringify is RFC 8785 for well-formed strings), integers; envelopes as their
 * decoder accepted them (a fixed payload type, base64 and hex: nothing JSON would escape).
 */
export function isUnitRecordText(record: UnitRecord, envelopes: readonly { payloadType: string; payload: string; signatures: readonly { keyid: string; sig: string }[] }[], text: string): boolean {
  let at = 0;
  const eat = (piece: string) => {
    if (!text.startsWith(piece, at)) return false;
    at += piece.length;
    return true;
  };
  const str = (v: string | null) => (v === null ? 'null' : (v as string & { isWellFormed(): boolean }).isWellFormed() ? JSON.stringify(v) : '\u0000');
  if (!eat('{"batchId":') || !eat(str(record.batchId)) || !eat(',"chipId":') || !eat(str(record.chipId)) || !eat(',"events":[')) return false;
  for (let i = 0; i < record.events.length; i++) {
    const e = record.events[i] as UnitRecord['events'][number];
    const env = envelopes[i];
    if (!env || (i > 0 && !eat(',')) || !eat('{"envelope":{"payload":"') || !eat(env.payload) || !eat('","payloadType":"') || !eat(env.payloadType) || !eat('","signatures":[')) return false;
    for (let j = 0; j < env.signatures.length; j++) {
      const sig = env.signatures[j] as { keyid: string; sig: string };
      if ((j > 0 && !eat(',')) || !eat('{"keyid":"') || !eat(sig.keyid) || !eat('","sig":"') || !eat(sig.sig) || !eat('"}')) return false;
    }
    if (!eat(']},"leafIndex":') || !eat(String(e.leafIndex)) || !eat(',"proof":[')) return false;
    for (let j = 0; j < e.proof.length; j++) if ((j > 0 && !eat(',')) || !eat('"') || !eat(e.proof[j] as string) || !eat('"')) return false;
    if (!eat(']}')) return false;
  }
  if (!eat(']')) return false;
  if (record.history && (!eat(',"history":{"proof":"') || !eat(record.history.proof) || !eat('","value":') || !eat(record.history.value === null ? 'null' : `"${record.history.value}"`) || !eat('}'))) return false;
  return eat(',"mac":') && eat(str(record.mac)) && eat(',"record":"unit","releaseId":') && eat(str(record.releaseId)) && eat(',"serial":') && eat(str(record.serial)) && eat('}') && at === text.length;
}

/** v2 records have one byte form: their RFC 8785 serialisation. */
export function checkCanonical(value: unknown, text: string, what: string, at: FailureLocation): void {
  let canonical: string;
  try {
    canonical = canonicalize(value);
  } catch (error) {
    if (!(error instanceof CanonicalizationError)) throw error;
    throw new VerificationError('RECORD_NOT_CANONICAL', 'format', `${what} has no RFC 8785 form: ${error.message}`, at);
  }
  if (canonical !== text) throw new VerificationError('RECORD_NOT_CANONICAL', 'format', `${what} is not the RFC 8785 form of its record (members sorted, no whitespace, no duplicate members)`, at);
}

/** The format named by an export's first line, before the line is checked against it. */
export function exportFormatOf(text: string): ExportFormat {
  const value = parseJsonText(text, 'line 1', { line: 1 });
  const format = (value as { format?: unknown } | null)?.format;
  if ((value as { record?: unknown } | null)?.record !== 'header' || (format !== EXPORT_FORMAT_V1 && format !== EXPORT_FORMAT_V2 && format !== EXPORT_FORMAT_V3 && format !== EXPORT_FORMAT_V4 && format !== EXPORT_FORMAT_V5)) {
    throw new VerificationError('FORMAT_ERROR', 'format', `line 1 is not the header of a ${EXPORT_FORMAT_V5} (or ${EXPORT_FORMAT_V4}, ${EXPORT_FORMAT_V3}, ${EXPORT_FORMAT_V2}, ${EXPORT_FORMAT_V1}) export`, { line: 1, field: 'format' });
  }
  return format;
}

export function parseUnitRecord(text: string, format: ExportFormat, line: number, canonical: 'now' | 'later' = 'now'): UnitRecord {
  // The hot path of export verification: a well-formed v2 unit record passes a direct check of exactly what its
  // schema says; anything else goes through the schema, which names the offending member.
  if (format !== EXPORT_FORMAT_V1 && canonical === 'later') {
    const value = parseJsonText(text, `line ${line}`, { line });
    if (isWellFormedUnitV2(value, format === EXPORT_FORMAT_V4 || format === EXPORT_FORMAT_V5)) return value;
  }
  const record = parseExportRecord(text, format, line, canonical);
  if (record.record !== 'unit') throw new VerificationError('FORMAT_ERROR', 'format', `line ${line}: a ${record.record} record cannot follow the first unit record`, { line, field: 'record' });
  return record;
}

/** Base64 hashes of a proof, already checked by the schema to be 32 bytes each; `field` locates the proof. */
export function proofHashes(proof: readonly string[], at: FailureLocation, step: string): Hash[] {
  return proof.map((p, i) => {
    try {
      const h = fromBase64(p);
      if (h.length !== 32) throw new TypeError('not 32 bytes');
      return h;
    } catch {
      throw new VerificationError('FORMAT_ERROR', step, `proof hash ${i} is not canonical base64 of 32 bytes`, { ...at, field: `${at.field ? `${at.field}.` : ''}proof[${i}]` });
    }
  });
}

export type ProvenanceFormat = typeof PROVENANCE_FORMAT_V1 | typeof PROVENANCE_FORMAT_V2 | typeof PROVENANCE_FORMAT_V3;

export interface ProvenanceFrame {
  readonly format: ProvenanceFormat;
  readonly serial: string;
  readonly checkpoint: string;
  readonly entries: readonly { role: 'trust' | 'station' | 'release' | 'batch' | 'unit'; leafIndex: number; envelope: unknown; proof: string }[];
  /** v3: the unit's completeness evidence (schemas/history.ts). */
  readonly history?: unknown;
  /** v3: the ledger's statement over the rest of the document (provenance-statement.ts). */
  readonly statement?: { payloadType: string; payload: string; signatures: { keyid: string; sig: string }[] };
}

const PROVENANCE_SCHEMAS = {
  [PROVENANCE_FORMAT_V3]: ProvenanceDocumentV3.extend({ entries: z.array(ProvenanceDocumentV3.shape.entries.element.extend(looseEnvelope)).min(1).max(1_000_000) }),
  [PROVENANCE_FORMAT_V2]: ProvenanceDocumentV2.extend({ entries: z.array(ProvenanceDocumentV2.shape.entries.element.extend(looseEnvelope)).min(1).max(1_000_000) }),
  [PROVENANCE_FORMAT_V1]: ProvenanceDocumentV1.extend({ entries: z.array(ProvenanceDocumentV1.shape.entries.element.extend(looseEnvelope)).min(1).max(1_000_000) }),
} as const;

/** A provenance document, parsed (JSON value, not text): its format decides the schema. */
export function parseProvenanceDocument(value: unknown): ProvenanceFrame {
  const format = (value as { format?: unknown } | null)?.format;
  if (value === null || typeof value !== 'object' || Array.isArray(value) || (format !== PROVENANCE_FORMAT_V1 && format !== PROVENANCE_FORMAT_V2 && format !== PROVENANCE_FORMAT_V3)) {
    throw new VerificationError('FORMAT_ERROR', 'format', `not a ${PROVENANCE_FORMAT_V3} (or ${PROVENANCE_FORMAT_V2}, ${PROVENANCE_FORMAT_V1}) document`, { field: 'format' });
  }
  const parsed = PROVENANCE_SCHEMAS[format].safeParse(value);
  if (!parsed.success) throw schemaFailure(parsed.error, `not a ${format} document`, {}, 'format');
  const doc = parsed.data as ProvenanceFrame;
  return doc;
}
