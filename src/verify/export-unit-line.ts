/**
 * The hot path of export verification: a v2+ unit record line read straight from its bytes (docs/format.md §7.3,
 * §8.2 steps 4a–4c), with the work the slow path repeats done once.
 *
 * A canonical line has exactly one byte form (RFC 8785 of a record whose schema is fixed), so instead of parsing it,
 * checking its schema, decoding each envelope and serialising the record again to compare, the bytes are scanned
 * against that form: each envelope's canonical bytes are then a slice of the line (what is hashed for the leaf and
 * the chain), and each proof hash is compared as bytes with the verified path of the event before it (consecutive
 * events share the upper part of their paths), decoded only where it is hashed.
 *
 * This reader only ACCEPTS: it returns null for anything it does not recognise as well-formed, canonical, decodable
 * and included (a member in an unusual form, a non-ASCII chip id, an escape in a payload, a proof that differs from
 * the verified path and does not hash to the root…), and the caller then runs the specification's own steps
 * (records.ts, steps.ts, the ledger's envelope decoder), which decide and name the failure. It never accepts a line
 * the slow path refuses (test/export-unit-line.unit.test.ts holds the two to the same verdicts and the same decoded
 * values), so the codes, steps and locations of every failure are the slow path's.
 */
import { unitEventVersions, LedgerEventSchema, EVENT_PAYLOAD_TYPE, type LedgerEvent } from '../../schemas/index.ts';
import { predicatesByDiscriminator, type Predicate } from '../../schemas/predicate.ts';
import type { CryptoBackend } from '../crypto/backend.ts';
import { fromUtf8, utf8 } from '../crypto/encoding.ts';
import { sha256Hex } from '../crypto/sha256.ts';
import { DEFAULT_MAX_DEPTH } from '../crypto/jcs.ts';
import type { Checkpoint } from '../tlog/checkpoint.ts';
import { hashesEqual, leafHash, nodeHash, splitPoint, type Hash } from '../merkle/hash.ts';
import type { Decoded } from './steps.ts';
import type { DsseEnvelope } from '../crypto/dsse.ts';
import { MAX_EXPORT_LINE_BYTES } from './export-format.ts';
import { isWellFormedUnitMapProof } from './records.ts';

/** A unit record as the fast reader found it: its members, its decoded envelopes and their leaf hashes. */
export interface CanonicalUnitLine {
  readonly serial: string;
  readonly chipId: string | null;
  readonly mac: string | null;
  readonly batchId: string | null;
  readonly releaseId: string | null;
  /** v4/v5: the unit's map proof as the record holds it; checked against its schema by the caller. */
  readonly history?: { readonly proof: string; readonly value: string | null };
  readonly decoded: Decoded[];
  readonly leafHashes: Hash[];
}

/**
 * The verified Merkle path of the last event read, kept across lines (and batches) of one export: a node hash
 * that, with the sibling hashes above it, leads to the checkpoint's root is a fact about the tree, whatever else
 * becomes of the line it came from. Levels run from the leaf (0) to the root (length).
 */
export interface VerifiedPath {
  bytes: Uint8Array;
  /** Offset in `bytes` of the proof's first hash (its opening quote). */
  proofAt: number;
  length: number;
  readonly from: Float64Array;
  readonly to: Float64Array;
  readonly hashes: Hash[];
}

/** Where the last verified path is kept, and a spare to build the next in (the two are swapped). */
export interface InclusionMemo {
  readonly checkpoint: Checkpoint;
  last: VerifiedPath | null;
  spare: VerifiedPath;
  readonly siblingFrom: Float64Array;
  readonly siblingTo: Float64Array;
}

const MAX_PROOF = 64;
const newPath = (): VerifiedPath => ({ bytes: new Uint8Array(0), proofAt: 0, length: 0, from: new Float64Array(MAX_PROOF + 1), to: new Float64Array(MAX_PROOF + 1), hashes: [] });

export function inclusionMemo(checkpoint: Checkpoint): InclusionMemo {
  return { checkpoint, last: null, spare: newPath(), siblingFrom: new Float64Array(MAX_PROOF + 1), siblingTo: new Float64Array(MAX_PROOF + 1) };
}

const ascii = (s: string) => Array.from(s, (c) => c.charCodeAt(0));
const PIECES = {
  start: ascii('{"batchId":'),
  chipId: ascii(',"chipId":'),
  events: ascii(',"events":['),
  envelope: ascii('{"envelope":{"payload":"'),
  payloadType: ascii(`","payloadType":"${EVENT_PAYLOAD_TYPE}","signatures":[{"keyid":`),
  sig: ascii(',"sig":"'),
  leafIndex: ascii('"}]},"leafIndex":'),
  proof: ascii(',"proof":['),
  history: ascii(',"history":{"proof":'),
  historyValue: ascii(',"value":'),
  mac: ascii(',"mac":'),
  releaseId: ascii(',"record":"unit","releaseId":'),
  serial: ascii(',"serial":'),
  nul: ascii('null'),
};

const B64 = new Int8Array(256).fill(-1);
for (const [i, c] of ascii('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/').entries()) B64[c] = i;
const isHexDigit = (c: number) => (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66);
/** records.ts's IDENTIFIER, /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/, on one byte. */
const isIdentifierByte = (c: number, first: boolean) => (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (!first && (c === 0x2e || c === 0x5f || c === 0x3a || c === 0x2d));

/**
 * Each unit event type's schema (all its versions, as LedgerEventSchema has them) as a predicate: true only of a value
 * LedgerEventSchema accepts as it is. Null for a type schemas/predicate.ts does not understand: safeParse decides.
 */
const UNIT_EVENT_SHAPES = new Map<unknown, Predicate | null>([...predicatesByDiscriminator(LedgerEventSchema)].filter(([type]) => Object.hasOwn(unitEventVersions, type as string)));

/** The bytes of PAE(EVENT_PAYLOAD_TYPE, body) before the body (DSSE v1; dsse.ts's pae), for a body of `length` bytes. */
const PAE_PREFIX = `DSSEv1 ${EVENT_PAYLOAD_TYPE.length} ${EVENT_PAYLOAD_TYPE} `;
const PAE_HEADER = (length: number) => utf8(`${PAE_PREFIX}${length} `);

/** A cursor over the line; every reader returns false (or null) at the first byte out of the expected form. */
class Scan {
  at = 0;
  constructor(readonly b: Uint8Array) {}
  eat(piece: readonly number[]): boolean {
    const { b } = this;
    let at = this.at;
    for (const c of piece) if (b[at++] !== c) return false;
    this.at = at;
    return true;
  }
  /** A string whose bytes all satisfy `ok` (so it has no JSON escape and is its own RFC 8785 form), within bounds. */
  quoted(ok: (c: number, i: number) => boolean, min: number, max: number): [number, number] | null {
    const { b } = this;
    if (b[this.at] !== 0x22) return null;
    const start = this.at + 1;
    let i = start;
    while (i < b.length && b[i] !== 0x22) {
      if (!ok(b[i] as number, i - start)) return null;
      i++;
    }
    if (i >= b.length || i - start < min || i - start > max) return null;
    this.at = i + 1;
    return [start, i];
  }
  text([s, e]: [number, number]): string {
    return fromUtf8(this.b.subarray(s, e)); // ASCII here: its UTF-8 decoding is the fast one
  }
  /** A string of 64 lowercase hex digits (a key id), its span. */
  hex64(): [number, number] | null {
    const { b } = this;
    const start = this.at + 1;
    if (b[this.at] !== 0x22 || b[start + 64] !== 0x22) return null;
    for (let i = start; i < start + 64; i++) if (!isHexDigit(b[i] as number)) return null;
    this.at = start + 65;
    return [start, start + 64];
  }
  identifier(): string | null {
    const r = this.quoted((c, i) => isIdentifierByte(c, i === 0), 1, 64);
    return r && this.text(r);
  }
  identifierOrNull(): string | null | undefined {
    if (this.eat(PIECES.nul)) return null;
    return this.identifier() ?? undefined;
  }
  /** A JSON integer as JSON.stringify writes a safe non-negative one. */
  index(): number | null {
    const { b } = this;
    const start = this.at;
    let n = 0;
    while ((b[this.at] as number) >= 0x30 && (b[this.at] as number) <= 0x39) n = n * 10 + ((b[this.at++] as number) - 0x30);
    const digits = this.at - start;
    if (digits === 0 || digits > 16 || (digits > 1 && b[start] === 0x30) || !Number.isSafeInteger(n)) return null;
    return n;
  }
}

/**
 * Strict base64 (RFC 4648 §4, padded, no stray bits) of bytes [s, e), as encoding.ts's fromBase64 has it; null if
 * not. `before`: bytes to put in front of the decoded ones, in the same buffer (the result is the decoded bytes).
 */
export function base64Span(b: Uint8Array, s: number, e: number, before?: Uint8Array): Uint8Array | null {
  const head = before?.length ?? 0;
  const whole = new Uint8Array(head + base64Length(b, s, e));
  if (before) whole.set(before);
  return base64Into(b, s, e, whole, head) < 0 ? null : whole.subarray(head);
}

/** How many bytes the base64 text [s, e) decodes to, by its length and padding (its form is checked by base64Into). */
function base64Length(b: Uint8Array, s: number, e: number): number {
  const n = e - s;
  if (n % 4 !== 0) return 0;
  return (n / 4) * 3 - (n === 0 ? 0 : b[e - 1] === 0x3d ? (b[e - 2] === 0x3d ? 2 : 1) : 0);
}

/**
 * base64Span's decoding into `out` from offset `at`, which must have room for base64Length bytes: the number of
 * bytes written, or -1 if the text is not strict base64.
 */
function base64Into(b: Uint8Array, s: number, e: number, out: Uint8Array, at: number): number {
  const n = e - s;
  if (n % 4 !== 0) return -1;
  const padding = n === 0 ? 0 : b[e - 1] === 0x3d ? (b[e - 2] === 0x3d ? 2 : 1) : 0;
  const full = padding === 0 ? e : e - 4;
  let o = at;
  for (let i = s; i < full; i += 4) {
    const v = ((B64[b[i] as number] as number) << 18) | ((B64[b[i + 1] as number] as number) << 12) | ((B64[b[i + 2] as number] as number) << 6) | (B64[b[i + 3] as number] as number);
    if (v < 0) return -1;
    out[o++] = v >> 16;
    out[o++] = (v >> 8) & 255;
    out[o++] = v & 255;
  }
  if (padding > 0) {
    const a = B64[b[full] as number] as number;
    const c1 = B64[b[full + 1] as number] as number;
    const c2 = padding === 1 ? (B64[b[full + 2] as number] as number) : 0;
    if (a < 0 || c1 < 0 || c2 < 0) return -1;
    const v = (a << 18) | (c1 << 12) | (c2 << 6);
    if ((padding === 2 ? v & 0xffff : v & 0xff) !== 0) return -1;
    out[o++] = v >> 16;
    if (padding === 1) out[o++] = (v >> 8) & 255;
  }
  return o - at;
}

/**
 * Whether `text`, which JSON.parse read as `value`, is the RFC 8785 form of it: the same answer as
 * canonicalize(value) === text whenever it says true. JSON.stringify writes strings and numbers as RFC 8785 does
 * and members in their parsed order, so the text is canonical when it is JSON.stringify's and every object's
 * members come in code-unit order; a text with a \u escape (which could hold a lone surrogate, which has no RFC 8785
 * form) or nested deeper than the decoder allows is left to canonicalize.
 */
export function isCanonicalJsonText(value: unknown, text: string): boolean {
  return !text.includes('\\u') && membersInOrder(value, 1) >= 0 && JSON.stringify(value) === text;
}

/**
 * isCanonicalJsonText of the text whose UTF-8 is `bytes`, mostly without writing the value out again: a text with
 * no whitespace, no escape and no number but integers of at most 15 digits (nor -0) outside its strings is
 * JSON.stringify's form of what JSON.parse read from it, provided no member was read twice (a duplicate name, which
 * JSON.parse keeps once: the text then has more name separators than the value has members). Any other text is
 * held to isCanonicalJsonText.
 */
export function isCanonicalJsonBytes(value: unknown, bytes: Uint8Array, text: string): boolean {
  const separators = plainJsonSeparators(bytes);
  if (separators < 0) return isCanonicalJsonText(value, text);
  return membersInOrder(value, 1) === separators;
}

/** The name separators (:) outside strings of a text in the plain form isCanonicalJsonBytes takes; -1 if not in it. */
function plainJsonSeparators(b: Uint8Array): number {
  let colons = 0;
  const n = b.length;
  for (let i = 0; i < n; i++) {
    const c = b[i] as number;
    if (c === 0x22) {
      // JSON.parse read the text: a string runs to the next quote unless an escape is in it, and then it is not plain.
      for (i++; i < n && b[i] !== 0x22; i++) if (b[i] === 0x5c) return -1;
    } else if (c === 0x3a) colons++;
    else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      const digits = c === 0x2d ? i + 1 : i;
      let e = digits;
      while (e < n && (b[e] as number) >= 0x30 && (b[e] as number) <= 0x39) e++;
      const count = e - digits;
      if (count === 0 || count > 15 || (b[digits] === 0x30 && (count > 1 || c === 0x2d))) return -1;
      if (b[e] === 0x2e || b[e] === 0x65 || b[e] === 0x45) return -1; // a fraction or an exponent
      i = e - 1;
    } else if (c !== 0x7b && c !== 0x7d && c !== 0x5b && c !== 0x5d && c !== 0x2c && (c < 0x61 || c > 0x7a)) return -1; // whitespace; letters: true, false, null
  }
  return colons;
}

/** The number of members of every object in the value if each object's members are in code-unit order; -1 if not. */
function membersInOrder(value: unknown, depth: number): number {
  if (value === null || typeof value !== 'object') return 0;
  if (depth > DEFAULT_MAX_DEPTH) return -1;
  let count = 0;
  if (Array.isArray(value)) {
    for (const v of value) {
      const inner = membersInOrder(v, depth + 1);
      if (inner < 0) return -1;
      count += inner;
    }
    return count;
  }
  let previous: string | null = null;
  for (const k in value) {
    if (previous !== null && !(previous < k)) return -1;
    previous = k;
    const inner = membersInOrder((value as Record<string, unknown>)[k], depth + 1);
    if (inner < 0) return -1;
    count += inner + 1;
  }
  return count;
}

/**
 * A unit event as the fast reader decoded it. The digest (the next event's prev) is computed when first asked for, and
 * never for a unit's last event; the envelope's text only where a failure is explained (the signature is checked over
 * `signed.message`, which holds the payload's bytes behind their PAE header).
 */
class FastDecoded implements Decoded {
  readonly role = 'unit' as const;
  #digest: string | undefined;
  #envelope: DsseEnvelope | undefined;
  // The line and the spans of the payload and signature text in it, and the backend: for the two members above.
  readonly #line: Uint8Array;
  readonly #payload: readonly [number, number];
  readonly #sig: readonly [number, number];
  readonly #crypto: CryptoBackend;
  constructor(
    readonly leafIndex: number,
    readonly position: number,
    readonly at: Decoded['at'],
    readonly event: LedgerEvent,
    readonly keyId: string,
    readonly bytes: Uint8Array,
    readonly payloadBytes: Uint8Array,
    readonly signed: { readonly signature: Uint8Array; readonly message: Uint8Array },
    line: Uint8Array,
    payload: readonly [number, number],
    sig: readonly [number, number],
    crypto: CryptoBackend,
  ) {
    this.#line = line;
    this.#payload = payload;
    this.#sig = sig;
    this.#crypto = crypto;
  }
  get digest(): string {
    return (this.#digest ??= sha256Hex(this.bytes, this.#crypto));
  }
  get envelope(): DsseEnvelope {
    const [line, payload, sig] = [this.#line, this.#payload, this.#sig];
    return (this.#envelope ??= { payloadType: EVENT_PAYLOAD_TYPE, payload: fromUtf8(line.subarray(payload[0], payload[1])), signatures: [{ keyid: this.keyId, sig: fromUtf8(line.subarray(sig[0], sig[1])) }] });
  }
}

/** The PAE header of a body of each length seen (a unit's event types have a few lengths each): encoded once. */
const paeHeaders = new Map<number, Uint8Array>();
function paeHeader(length: number): Uint8Array {
  let header = paeHeaders.get(length);
  if (!header) {
    if (paeHeaders.size > 4096) paeHeaders.clear();
    paeHeaders.set(length, (header = PAE_HEADER(length)));
  }
  return header;
}

/**
 * Where a line's envelopes are decoded: one buffer for the line (its length, more than every event's PAE header,
 * payload and signature need, as each is shorter than its base64 and the members around it), so that a line costs
 * one allocation, not two per event. An envelope that does not fit (none the ledger writes) gets its own.
 */
interface DecodeArea {
  readonly bytes: Uint8Array;
  used: number;
}

/** One envelope as the ledger's decoder (codec.ts) would accept it, from its canonical bytes; null: let it decide. */
function decodeEnvelope(b: Uint8Array, payload: [number, number], keyid: [number, number], sig: [number, number], span: [number, number], position: number, leafIndex: number, line: number, area: DecodeArea, crypto: CryptoBackend): Decoded | null {
  // DsseEnvelopeSchema: a payload of 1 to 256 KiB characters, a signature of 88; then canonical base64 of UTF-8, 64 bytes.
  if (payload[1] - payload[0] < 1 || payload[1] - payload[0] > 256 * 1024 || base64Length(b, sig[0], sig[1]) !== 64) return null;
  // Decoded behind the start of its PAE (dsse.ts): the message the signature covers is then one span, the
  // signature right after it.
  const length = base64Length(b, payload[0], payload[1]);
  const header = paeHeader(length);
  const need = header.length + length + 64;
  const [out, at] = area.used + need <= area.bytes.length ? [area.bytes, area.used] : [new Uint8Array(need), 0];
  if (out === area.bytes) area.used += need;
  out.set(header, at);
  const body = at + header.length;
  if (base64Into(b, payload[0], payload[1], out, body) !== length || base64Into(b, sig[0], sig[1], out, body + length) !== 64) return null;
  const payloadBytes = out.subarray(body, body + length);
  const signature = out.subarray(body + length, body + length + 64);
  let text: string;
  let value: unknown;
  try {
    text = fromUtf8(payloadBytes);
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (!isCanonicalJsonBytes(value, payloadBytes, text)) return null;
  const shape = typeof value === 'object' && value !== null ? UNIT_EVENT_SHAPES.get((value as { type?: unknown }).type) : undefined;
  if (shape === undefined) return null;
  let event: LedgerEvent;
  if (shape) {
    if (!shape(value)) return null;
    event = value as LedgerEvent;
  } else {
    const parsed = LedgerEventSchema.safeParse(value);
    if (!parsed.success) return null;
    event = parsed.data;
  }
  const message = out.subarray(at, body + length);
  return new FastDecoded(leafIndex, position, { line, field: eventField(position) }, event, keyIdText(b, keyid[0]), b.subarray(span[0], span[1]), payloadBytes, { signature, message }, b, payload, sig, crypto);
}

/** `events[i]` for the first positions, made once (every event's location names one). */
const EVENT_FIELDS = Array.from({ length: 64 }, (_, i) => `events[${i}]`);
const eventField = (position: number) => EVENT_FIELDS[position] ?? `events[${position}]`;

/** The key id's text at `at` (64 hex digits): the last one read again where the bytes are the same (a station signs many events). */
let lastKeyId = { bytes: new Uint8Array(64), text: '' };
function keyIdText(b: Uint8Array, at: number): string {
  const { bytes, text } = lastKeyId;
  let same = text !== '';
  for (let i = 0; same && i < 64; i++) same = bytes[i] === b[at + i];
  if (same) return text;
  const read = b.subarray(at, at + 64);
  lastKeyId = { bytes: new Uint8Array(read), text: fromUtf8(read) }; // a copy, whatever kind of array the line is
  return lastKeyId.text;
}

/**
 * The line's unit record, read from its canonical bytes; null when the line is not in the form this reader knows
 * or anything in it fails (the caller's slow path then decides). `withHistory`: v4/v5, the record has its map proof.
 */
export function readCanonicalUnitLine(b: Uint8Array, line: number, withHistory: boolean, memo: InclusionMemo, crypto: CryptoBackend): CanonicalUnitLine | null {
  if (b.length > MAX_EXPORT_LINE_BYTES || b[b.length - 1] !== 0x0a) return null;
  const s = new Scan(b.subarray(0, b.length - 1));
  if (!s.eat(PIECES.start)) return null;
  const batchId = s.identifierOrNull();
  if (batchId === undefined || !s.eat(PIECES.chipId)) return null;
  // ExportUnitV2's chipId: null, or 1 to 64 characters; here only printable ASCII with nothing to escape.
  let chipId: string | null = null;
  if (!s.eat(PIECES.nul)) {
    const r = s.quoted((c) => c >= 0x20 && c < 0x7f && c !== 0x5c, 1, 64);
    if (!r) return null;
    chipId = s.text(r);
  }
  if (!s.eat(PIECES.events)) return null;
  const decoded: Decoded[] = [];
  const leafHashes: Hash[] = [];
  const area: DecodeArea = { bytes: new Uint8Array(b.length), used: 0 };
  for (let position = 0; ; position++) {
    if (position > 0 && !s.eat([0x2c])) break;
    if (!s.eat(PIECES.envelope)) return null;
    const envelopeStart = s.at - PIECES.envelope.length + '{"envelope":'.length;
    // The payload and signature run to the next quote: base64Span refuses them if anything but base64 is in them.
    const payloadStart = s.at;
    s.at = b.indexOf(0x22, s.at);
    if (s.at < 0) return null;
    const payload: [number, number] = [payloadStart, s.at];
    if (!s.eat(PIECES.payloadType)) return null;
    const keyid = s.hex64();
    if (!keyid || !s.eat(PIECES.sig)) return null;
    const sigStart = s.at;
    s.at = b.indexOf(0x22, s.at);
    if (s.at < 0) return null;
    const sig: [number, number] = [sigStart, s.at];
    if (sig[1] - sig[0] !== 88 || !s.eat(PIECES.leafIndex)) return null;
    const envelopeEnd = s.at - ',"leafIndex":'.length;
    const leafIndex = s.index();
    if (leafIndex === null || !s.eat(PIECES.proof)) return null;
    const proofAt = s.at;
    let proofs = 0;
    // LoggedEnvelope's proof: at most 64 hashes, each canonical base64 of 32 bytes (43 characters and "="). Here
    // only their places: included() decodes each hash it hashes, strictly, and compares the others byte for byte with
    // the last verified path's, every one of which was decoded so (or compared so with one that was).
    while (b[s.at] === 0x22) {
      if (proofs > 0 && b[s.at - 1] !== 0x2c) return null;
      if (b[s.at + 44] !== 0x3d || b[s.at + 45] !== 0x22) return null;
      proofs++;
      s.at += 46;
      if (b[s.at] === 0x2c && b[s.at + 1] === 0x22) s.at++;
    }
    if (proofs > MAX_PROOF || !s.eat([0x5d, 0x7d])) return null;
    const d = decodeEnvelope(b, payload, keyid, sig, [envelopeStart, envelopeEnd], position, leafIndex, line, area, crypto);
    if (!d) return null;
    const leaf = leafHash(d.bytes, crypto);
    if (!included(b, leaf, leafIndex, proofAt, proofs, memo, crypto)) return null;
    decoded.push(d);
    leafHashes.push(leaf);
  }
  if (!s.eat([0x5d])) return null;
  let history: CanonicalUnitLine['history'];
  if (withHistory) {
    // UnitMapProof (schemas/history.ts), as isWellFormedUnitV2 holds it; the caller then checks it as the slow path does.
    if (!s.eat(PIECES.history)) return null;
    const proof = s.quoted((c) => B64[c] !== -1 || c === 0x3d, 0, 32_768);
    if (!proof || !s.eat(PIECES.historyValue)) return null;
    let value: string | null = null;
    if (!s.eat(PIECES.nul)) {
      const r = s.quoted((c) => B64[c] !== -1 || c === 0x3d, 0, 128);
      if (!r) return null;
      value = s.text(r);
    }
    if (!s.eat([0x7d])) return null;
    history = { proof: s.text(proof), value };
    if (!isWellFormedUnitMapProof(history)) return null;
  }
  if (!s.eat(PIECES.mac)) return null;
  let mac: string | null = null;
  if (!s.eat(PIECES.nul)) {
    // /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/
    const r = s.quoted((c, i) => (i % 3 === 2 ? c === 0x3a : isHexDigit(c)), 17, 17);
    if (!r) return null;
    mac = s.text(r);
  }
  if (!s.eat(PIECES.releaseId)) return null;
  const releaseId = s.identifierOrNull();
  if (releaseId === undefined || !s.eat(PIECES.serial)) return null;
  const serial = s.identifier();
  if (serial === null || !s.eat([0x7d]) || s.at !== b.length - 1) return null;
  return { serial, chipId, mac, batchId, releaseId, ...(history ? { history } : {}), decoded, leafHashes };
}

/** Levels above `level` of `path` taken from `last`, where `last`'s level `at` is the same node: the rest of the way to the root is its. */
function adoptUpperPath(path: VerifiedPath, last: VerifiedPath, level: number, at: number, length: number): void {
  for (let l = level + 1; l <= length; l++) {
    path.from[l] = last.from[l + at - level] as number;
    path.to[l] = last.to[l + at - level] as number;
    path.hashes[l] = last.hashes[l + at - level] as Hash;
  }
}

/**
 * Whether the leaf is at `index` of the checkpointed tree by its proof (the `count` hashes from `proofAt`): the
 * verdict of RFC 9162 §2.1.3.2, with the work shared with the last verified path. Where the path climbing from the
 * leaf reaches a node that path holds, with the same hash, and the proof's remaining hashes are byte for byte that
 * path's, it leads to the root as that path does; likewise one level earlier, where it reaches the sibling of a node
 * that path holds and the two proofs hold each other's node there; until then each level is hashed. False also for a proof of the
 * wrong length, or a hash that is not canonical base64: the slow path says which.
 */
function included(b: Uint8Array, leaf: Hash, index: number, proofAt: number, count: number, memo: InclusionMemo, crypto: CryptoBackend): boolean {
  const { size, root } = memo.checkpoint;
  if (index >= size) return false;
  // The sibling ranges (RFC 9162 §2.1.3.1), found from the root down and so stored top first.
  const { siblingFrom, siblingTo } = memo;
  let length = 0;
  for (let n = size, m = index, start = 0; n > 1 && length <= MAX_PROOF; length++) {
    const k = n <= 0x80000000 ? 1 << (31 - Math.clz32(n - 1)) : splitPoint(n);
    if (m < k) {
      siblingFrom[length] = start + k;
      siblingTo[length] = start + n;
      n = k;
    } else {
      siblingFrom[length] = start;
      siblingTo[length] = start + k;
      start += k;
      m -= k;
      n -= k;
    }
  }
  if (length !== count) return false;
  const last = memo.last;
  const path = memo.spare;
  path.bytes = b;
  path.proofAt = proofAt;
  path.length = length;
  let from = index;
  let to = index + 1;
  let hash = leaf;
  path.from[0] = from;
  path.to[0] = to;
  path.hashes[0] = hash;
  let settled = false;
  for (let level = 0; level < length; level++) {
    if (last) {
      const at = level + last.length - length;
      if (at >= 0 && last.from[at] === from && last.to[at] === to && hashesEqual(last.hashes[at] as Hash, hash) && sameBytes(b, proofAt + 47 * level, last.bytes, last.proofAt + 47 * at, 47 * (length - level) - 1)) {
        adoptUpperPath(path, last, level, at, length);
        settled = true;
        break;
      }
    }
    const sibling = base64Span(b, proofAt + 47 * level + 1, proofAt + 47 * level + 45);
    if (!sibling) return false;
    const top = length - 1 - level;
    const [s, e] = [siblingFrom[top] as number, siblingTo[top] as number];
    if (last) {
      // Where the last path went through this node's sibling (the two paths meet at their parent, as consecutive
      // leaves' paths do), that path's proof holds this node's hash and this proof the sibling's, both verified:
      // compared instead of hashing the parent. The parent and what is above it are then the last path's.
      const at = level + last.length - length;
      if (at >= 0 && last.from[at] === s && last.to[at] === e && hashesEqual(sibling, last.hashes[at] as Hash) && proofHashIs(last.bytes, last.proofAt + 47 * at + 1, hash) && sameBytes(b, proofAt + 47 * (level + 1), last.bytes, last.proofAt + 47 * (at + 1), 47 * (length - level - 1) - 1)) {
        adoptUpperPath(path, last, level, at, length);
        settled = true;
        break;
      }
    }
    hash = s < from ? nodeHash(sibling, hash, crypto) : nodeHash(hash, sibling, crypto);
    from = Math.min(from, s);
    to = Math.max(to, e);
    path.from[level + 1] = from;
    path.to[level + 1] = to;
    path.hashes[level + 1] = hash;
  }
  if (!settled && !hashesEqual(hash, root)) return false;
  memo.spare = last ?? newPath();
  memo.last = path;
  return true;
}

/** Whether the proof hash whose base64 starts at `at` (44 characters, decoded strictly) is `hash`. */
function proofHashIs(b: Uint8Array, at: number, hash: Hash): boolean {
  const decoded = base64Span(b, at, at + 44);
  return decoded !== null && hashesEqual(decoded, hash);
}

function sameBytes(a: Uint8Array, at: number, b: Uint8Array, bt: number, n: number): boolean {
  for (let i = 0; i < n; i++) if (a[at + i] !== b[bt + i]) return false;
  return true;
}
