/**
 * The invalid format vectors, each derived from a genuine file (v1/, v2/: see generate-genuine.ts) by breaking
 * exactly one rule of docs/format.md, and manifest.json listing every vector with the code a verifier must report.
 *
 *   npx tsx test/vectors/format/derive.ts
 *
 * Where a rule can only be broken by someone holding a key (the ledger's, to sign a statement or a checkpoint
 * over edited records; a station's, to sign an edited payload), the seeded vector keys are used, so that the
 * broken rule is the one the vector is about and not a signature or a digest that no longer matches. The
 * derivation is deterministic: Ed25519 signatures are, and nothing here reads the clock.
 */
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { canonicalBytes, canonicalize } from '../../../src/crypto/jcs.ts';
import { fromBase64, fromUtf8, toBase64, utf8 } from '../../../src/crypto/encoding.ts';
import { signEnvelope, type DsseEnvelope } from '../../../src/crypto/dsse.ts';
import { parseNote, signNote } from '../../../src/tlog/note.ts';
import { formatTlogProof, parseTlogProof } from '../../../src/tlog/checkpoint.ts';
import { EventSigner } from '../../../src/event/signer.ts';
import { toHex } from '../../../src/crypto/encoding.ts';
import { ORIGIN, seededMlDsaSigner, seededSigner } from './generate-genuine.ts';
import { ml_dsa44 } from '@noble/post-quantum/ml-dsa.js';
import { pae } from '../../../src/crypto/dsse.ts';

const HERE = join(fileURLToPath(import.meta.url), '..');
const ledgerKey = seededSigner('ledger');
const stationKey = seededSigner('station ST-01');
const stranger = seededSigner('someone else');
const ledgerMlDsa = seededMlDsaSigner('ledger ml-dsa-44');
const strangerMlDsa = seededMlDsaSigner('someone else ml-dsa-44');

interface Vector {
  readonly file: string;
  readonly kind: 'export' | 'provenance';
  readonly format: string;
  /** "ok", or the error code a verifier must report. */
  readonly expect: string;
  /** Where our verifier reports it (optional for third parties). */
  readonly location?: Record<string, string | number>;
  /** The section of docs/format.md whose rule is broken. */
  readonly rule?: string;
  readonly description: string;
  /** v3: verify under the hybrid signature policy with the manifest's ML-DSA-44 key. */
  readonly signatures?: 'hybrid';
  /** v3: compare this file as the verifier page (docs/format.md §7.6.1). */
  readonly page?: string;
  /** What a verifier must implement to reach this verdict beyond Ed25519 and SHA-256 (e.g. ML-DSA-44). */
  readonly needs?: 'ml-dsa-44';
  /** An export verified with the manifest's index log key (docs/format.md §7.6.2, §7.6.3): every v4/ and v5/ vector. */
  readonly mapKey?: true;
}

const vectors: Vector[] = [];
const read = (path: string) => readFileSync(join(HERE, path), 'utf8');

// ---------------------------------------------------------------- exports

type Rec = Record<string, unknown> & { record: string };
type Unit = Rec & { serial: string; events: { leafIndex: number; envelope: DsseEnvelope; proof: string[] }[] };

function exportLines(version: 'v1' | 'v2'): string[] {
  return read(`${version}/genuine.export.ndjson`).split('\n').slice(0, -1);
}

/** v2 lines are RFC 8785; v1 lines as v1 ledgers wrote them (JSON.stringify in member order). */
const serialise = (version: 'v1' | 'v2', r: unknown) => (version === 'v2' ? canonicalize(r) : JSON.stringify(r));

/** Re-signs the statement over edited lines, as a holder of the ledger key could (digest and counts recomputed). */
function resealed(version: 'v1' | 'v2', lines: string[], editStatement: (s: Record<string, unknown> & { subject: unknown[]; predicate: Record<string, unknown> }) => void = () => undefined): string[] {
  const body = lines.slice(0, -1);
  const old = JSON.parse(lines[lines.length - 1] as string) as { envelope: DsseEnvelope };
  const statement = JSON.parse(fromUtf8(fromBase64(old.envelope.payload))) as Parameters<typeof editStatement>[0];
  const records = body.map((l) => JSON.parse(l) as Rec & { events?: unknown[] });
  statement.predicate['content'] = {
    sha256: createHash('sha256').update(body.map((l) => `${l}\n`).join('')).digest('hex'),
    records: body.length,
    units: records.filter((r) => r.record === 'unit').length,
    events: records.reduce((n, r) => n + (r.record === 'unit' ? (r.events?.length ?? 0) : 0), 0),
  };
  editStatement(statement);
  return [...body, serialise(version, { record: 'statement', envelope: signEnvelope('application/vnd.in-toto+json', canonicalBytes(statement), ledgerKey) })];
}

const unitIndex = (lines: string[], n = 0) => lines.map((l, i) => [i, JSON.parse(l) as Rec] as const).filter(([, r]) => r.record === 'unit')[n]![0];
function editUnit(version: 'v1' | 'v2', lines: string[], edit: (u: Unit) => void, n = 0): string[] {
  const i = unitIndex(lines, n);
  const u = JSON.parse(lines[i] as string) as Unit;
  edit(u);
  return lines.map((l, j) => (j === i ? serialise(version, u) : l));
}
const payloadOf = (e: DsseEnvelope) => JSON.parse(fromUtf8(fromBase64(e.payload))) as Record<string, unknown>;

function writeExport(version: 'v1' | 'v2', name: string, lines: string[], expect: string, description: string, extra: { rule?: string; location?: Record<string, string | number>; raw?: string } = {}): void {
  const file = `${version}/export.${name}.ndjson`;
  writeFileSync(join(HERE, file), extra.raw ?? lines.map((l) => `${l}\n`).join(''));
  vectors.push({ file, kind: 'export', format: `flashtrail.export.${version}`, expect, description, ...(extra.rule ? { rule: extra.rule } : {}), ...(extra.location ? { location: extra.location } : {}) });
}

function exportVectors(version: 'v1' | 'v2'): void {
  const g = exportLines(version);
  const v2 = version === 'v2';
  writeExport(version, 'genuine', g, 'ok', `a genuine ${version} export of 2 units written by a real ledger`);
  writeExport(version, 'no-final-newline', g, 'FORMAT_ERROR', 'the last line lacks its newline', { rule: '§7.1', location: { line: g.length }, raw: g.join('\n') });
  writeExport(version, 'crlf', g.map((l, i) => (i === 2 ? `${l}\r` : l)), 'FORMAT_ERROR', 'line 3 ends with CR LF', { rule: '§7.1', location: { line: 3 } });
  writeExport(version, 'null-line', g.map((l, i) => (i === 2 ? 'null' : l)), 'FORMAT_ERROR', 'line 3 is the JSON value null', { rule: '§7.1', location: { line: 3 } });
  writeExport(version, 'truncated', g.slice(0, -1), 'FORMAT_ERROR', 'the statement line is missing', { rule: '§7.6' });
  writeExport(version, 'unit-removed', g.filter((_l, i) => i !== unitIndex(g)), 'CONTENT_DIGEST_ERROR', 'a unit record removed, the statement kept', { rule: '§7.6' });
  writeExport(version, 'chipid', resealed(version, editUnit(version, g, (u) => void (u['chipId'] = 'esp32s3-000000000000'))), 'SUMMARY_MISMATCH', "a unit's chipId changed, statement re-signed with the ledger key", { rule: '§7.4', location: { field: 'chipId' } });
  writeExport(version, 'mac', resealed(version, editUnit(version, g, (u) => void (u['mac'] = '02:00:00:00:00:01'))), 'SUMMARY_MISMATCH', "a unit's mac changed, re-signed", { rule: '§7.4', location: { field: 'mac' } });
  writeExport(version, 'batchid', resealed(version, editUnit(version, g, (u) => void (u['batchId'] = 'B-9'))), 'SUMMARY_MISMATCH', "a unit's batchId changed, re-signed", { rule: '§7.4', location: { field: 'batchId' } });
  writeExport(version, 'extra-subject', resealed(version, g, (s) => void s.subject.push({ name: 'application 9.9.9', digest: { sha256: 'f'.repeat(64) } })), 'SUBJECT_MISMATCH', 'a firmware subject no event supports, re-signed', { rule: '§7.6' });
  writeExport(version, 'missing-subject', resealed(version, g, (s) => void s.subject.splice(0, 1)), 'SUBJECT_MISMATCH', 'a subject the events support left out, re-signed', { rule: '§7.6' });
  writeExport(version, 'predicate-selection', resealed(version, g, (s) => void (s.predicate['selection'] = { batchId: 'B-9' })), 'PREDICATE_MISMATCH', "the predicate's selection is not the header's, re-signed", { rule: '§7.6', location: { field: 'statement.predicate.selection' } });
  writeExport(version, 'predicate-origin', resealed(version, g, (s) => void (s.predicate['origin'] = 'other.example/log')), 'PREDICATE_MISMATCH', "the predicate's origin is not the header's, re-signed", { rule: '§7.6' });
  writeExport(version, 'predicate-created', resealed(version, g, (s) => void (s.predicate['createdAt'] = '2020-01-01T00:00:00.000Z')), 'PREDICATE_MISMATCH', "the predicate's createdAt is not the header's, re-signed", { rule: '§7.6' });
  const u = unitIndex(g);
  writeExport(version, 'duplicate-unit', resealed(version, [...g.slice(0, u + 1), g[u] as string, ...g.slice(u + 1)]), 'DUPLICATE_ENTRY', 'a unit record twice, counts recomputed, re-signed', { rule: '§7.4', location: { line: u + 2 } });
  writeExport(version, 'statement-other-key', g.map((l, i) => (i === g.length - 1 ? serialise(version, { record: 'statement', envelope: signEnvelope('application/vnd.in-toto+json', fromBase64((JSON.parse(l) as { envelope: DsseEnvelope }).envelope.payload), stranger) }) : l)), 'STATEMENT_SIGNATURE_ERROR', 'the statement signed by another key', { rule: '§7.6' });
  writeExport(version, 'checkpoint-other-key', g.map((l, i) => (i === 1 ? serialise(version, { record: 'checkpoint', note: signNote(parseNote((JSON.parse(l) as { note: string }).note).text, ORIGIN, stranger.secretKey, stranger.publicKey) }) : l)), 'CHECKPOINT_SIGNATURE_ERROR', 'the checkpoint signed by another key under the ledger name', { rule: '§5' });
  writeExport(version, 'event-signature', editUnit(version, g, (x) => {
    const e = x.events[1]!;
    const sig = fromBase64(e.envelope.signatures[0]!.sig);
    sig[5] = (sig[5] as number) ^ 1;
    e.envelope = { ...e.envelope, signatures: [{ keyid: e.envelope.signatures[0]!.keyid, sig: toBase64(sig) }] };
  }), 'SIGNATURE_ERROR', "one bit of a unit event's signature flipped", { rule: '§8.2 step 4' });
  writeExport(version, 'event-deleted', resealed(version, editUnit(version, g, (x) => void x.events.splice(2, 1))), 'CHAIN_BROKEN', "a unit event removed from the middle of its record, re-signed", { rule: '§3' });
  writeExport(version, 'proof-hash', editUnit(version, g, (x) => {
    const p = fromBase64(x.events[0]!.proof[0]!);
    p[0] = (p[0] as number) ^ 1;
    x.events[0]!.proof[0] = toBase64(p);
  }), 'INCLUSION_PROOF_ERROR', "one hash of an event's inclusion proof changed", { rule: '§4' });
  writeExport(version, 'proof-not-base64', editUnit(version, g, (x) => void (x.events[0]!.proof[0] = '!'.repeat(43) + '=')), 'FORMAT_ERROR', 'a proof hash that is not base64', { rule: '§7.4', location: { field: 'events[0].proof[0]' } });
  writeExport(version, 'payload-not-canonical', resealed(version, editUnit(version, g, (x) => {
    const e = x.events[0]!;
    e.envelope = signEnvelope(e.envelope.payloadType, utf8(JSON.stringify(payloadOf(e.envelope), null, 1)), stationKey);
  })), 'PAYLOAD_NOT_CANONICAL', "a unit event's payload in another byte form, re-signed by its station", { rule: '§2' });
  writeExport(version, 'payload-type', resealed(version, editUnit(version, g, (x) => {
    const e = x.events[0]!;
    e.envelope = signEnvelope('application/json', fromBase64(e.envelope.payload), stationKey);
  })), 'ENVELOPE_ERROR', 'a unit event with another payloadType, re-signed by its station', { rule: '§2' });
  writeExport(version, 'station-key-forged', g.map((l) => {
    const r = JSON.parse(l) as Rec & { envelope?: DsseEnvelope };
    if (r.record !== 'station' || payloadOf(r.envelope!)['type'] !== 'StationKeyRegistered') return l;
    const ev = payloadOf(r.envelope!) as { id: string; prev: string | null; occurredAt: string; data: Record<string, unknown> };
    // The genuine event's time, not the clock's: the derivation stays deterministic (header comment).
    const forged = new EventSigner(stranger, 'admin').sign('StationKeyRegistered', { stationId: 'ST-01', keyId: stranger.keyId, publicKey: toHex(stranger.publicKey), algorithm: 'ed25519' }, { id: ev.id, prev: ev.prev, occurredAt: new Date(ev.occurredAt) });
    return serialise(version, { ...r, envelope: forged.envelope });
  }), 'KEY_UNKNOWN', 'the station key registration replaced by one signed by a key no AdminKeysTrusted names', { rule: '§8.2 step 3' });
  writeExport(version, 'header-origin', resealed(version, g.map((l, i) => (i === 0 ? serialise(version, { ...(JSON.parse(l) as Rec), origin: 'other.example/log' }) : l)), (s) => void (s.predicate['origin'] = 'other.example/log')), 'CHECKPOINT_ORIGIN_ERROR', 'the header names another origin than the pinned key, re-signed', { rule: '§7.2', location: { line: 1 } });
  if (!v2) return;
  writeExport(version, 'releaseid', resealed(version, editUnit(version, g, (x) => void (x['releaseId'] = 'R-9'))), 'SUMMARY_MISMATCH', "a unit's releaseId changed, re-signed", { rule: '§7.4', location: { field: 'releaseId' } });
  writeExport(version, 'batch-record-removed', resealed(version, g.filter((l) => (JSON.parse(l) as Rec).record !== 'batch')), 'SUMMARY_MISMATCH', "the BatchOpened record removed: no unit's releaseId is supported, re-signed", { rule: '§7.3', location: { field: 'releaseId' } });
  writeExport(version, 'not-canonical', g.map((l, i) => (i === 2 ? JSON.stringify(JSON.parse(l) as Rec, null, 0).replace('{', '{ ') : l)), 'RECORD_NOT_CANONICAL', 'line 3 with a space: not its RFC 8785 form', { rule: '§7.1', location: { line: 3 } });
  writeExport(version, 'member-order', g.map((l, i) => {
    if (i !== unitIndex(g)) return l;
    const { record, ...rest } = JSON.parse(l) as Rec;
    return JSON.stringify({ record, ...rest });
  }), 'RECORD_NOT_CANONICAL', 'a unit record with its members in another order', { rule: '§7.1' });
  writeExport(version, 'unknown-member', resealed(version, editUnit(version, g, (x) => void (x['note'] = 'hello'))), 'FORMAT_ERROR', 'a unit record with a member the format does not have, re-signed', { rule: '§7.4' });
  const [a, b] = [unitIndex(g, 0), unitIndex(g, 1)];
  writeExport(version, 'units-out-of-order', resealed(version, g.map((l, i) => (i === a ? (g[b] as string) : i === b ? (g[a] as string) : l))), 'FORMAT_ERROR', 'the two unit records in descending serial order, re-signed', { rule: '§7.4' });
  const admin = g.map((l, i) => [i, (JSON.parse(l) as Rec).record] as const).filter(([, r]) => ['trust', 'station', 'release', 'batch'].includes(r)).map(([i]) => i);
  const [s1, s2] = [admin[1] as number, admin[2] as number];
  writeExport(version, 'admin-out-of-order', resealed(version, g.map((l, i) => (i === s1 ? (g[s2] as string) : i === s2 ? (g[s1] as string) : l))), 'FORMAT_ERROR', 'two records before the units not in log order, re-signed', { rule: '§7.3' });
  writeExport(version, 'selection', resealed(version, g.map((l, i) => (i === 0 ? canonicalize({ ...(JSON.parse(l) as Rec), selection: { batchId: 'B-1', customer: 'NOBODY' } }) : l)), (s) => void (s.predicate['selection'] = { batchId: 'B-1', customer: 'NOBODY' })), 'SELECTION_MISMATCH', 'header and predicate select customer NOBODY, whom no exported unit was shipped to; re-signed', { rule: '§7.5' });
  writeExport(version, 'subject-name', resealed(version, g, (s) => void ((s.subject[0] as { name: string }).name = 'application 0.0.0')), 'SUBJECT_MISMATCH', 'a subject named with another version than its events report, re-signed', { rule: '§7.6' });
}

// ---------------------------------------------------------------- exports v3 (§7.6.1)

/**
 * The v3 statement re-signed with both seeded ledger keys over edited lines. ML-DSA-44 signing is hedged by
 * default; here it is deterministic (FIPS 204's deterministic variant, no fresh randomness), so the vectors
 * are the same on every run, and either variant verifies alike.
 */
function resealedV3(lines: string[], editStatement: (s: Record<string, unknown> & { subject: unknown[]; predicate: Record<string, unknown> }) => void = () => undefined, mlDsa = ledgerMlDsa): string[] {
  const sealed = resealed('v2', lines, editStatement);
  const { envelope } = JSON.parse(sealed[sealed.length - 1] as string) as { envelope: DsseEnvelope };
  const message = pae(envelope.payloadType, fromBase64(envelope.payload));
  const sig = ml_dsa44.sign(message, mlDsa.secretKey, { extraEntropy: false });
  return [...sealed.slice(0, -1), canonicalize({ record: 'statement', envelope: { ...envelope, signatures: [...envelope.signatures, { keyid: mlDsa.keyId, sig: toBase64(sig) }] } })];
}

function writeExportV3(name: string, lines: string[], expect: string, description: string, extra: { rule?: string; location?: Record<string, string | number>; page?: string; needs?: 'ml-dsa-44' } = {}): void {
  const file = `v3/export.${name}.ndjson`;
  writeFileSync(join(HERE, file), lines.map((l) => `${l}\n`).join(''));
  vectors.push({ file, kind: 'export', format: 'flashtrail.export.v3', expect, description, signatures: 'hybrid', ...extra });
}

function exportVectorsV3(): void {
  const g = read('v3/genuine.export.ndjson').split('\n').slice(0, -1);
  const withSignatures = (edit: (sigs: DsseEnvelope['signatures']) => void) =>
    g.map((l, i) => {
      if (i !== g.length - 1) return l;
      const { envelope } = JSON.parse(l) as { envelope: DsseEnvelope };
      const signatures = envelope.signatures.map((s) => ({ ...s }));
      edit(signatures);
      return canonicalize({ record: 'statement', envelope: { ...envelope, signatures } });
    });
  const flipped = (b64: string) => {
    const b = fromBase64(b64);
    b[7] = (b[7] as number) ^ 1;
    return toBase64(b);
  };
  writeExportV3('genuine', g, 'ok', 'a genuine v3 export of 2 units written by a real ledger with the seeded Ed25519 and ML-DSA-44 keys', { needs: 'ml-dsa-44' });
  writeExportV3('pq-signature-removed', withSignatures((s) => void s.splice(1)), 'STATEMENT_PQ_SIGNATURE_ERROR', 'the statement without its ML-DSA-44 signature, which the hybrid policy requires', { rule: '§7.6.1' });
  writeExportV3('pq-signature-corrupted', withSignatures((s) => void ((s[1] as { sig: string }).sig = flipped((s[1] as { sig: string }).sig))), 'STATEMENT_PQ_SIGNATURE_ERROR', "one bit of the statement's ML-DSA-44 signature flipped", { rule: '§7.6.1', location: { field: 'envelope.signatures[1].sig' }, needs: 'ml-dsa-44' });
  writeExportV3('pq-signature-other-key', resealedV3(g, undefined, strangerMlDsa), 'STATEMENT_PQ_SIGNATURE_ERROR', 'the statement re-signed with the ledger Ed25519 key and another ML-DSA-44 key', { rule: '§7.6.1', location: { field: 'envelope.signatures[1].keyid' } });
  writeExportV3('ed25519-signature-corrupted', withSignatures((s) => void ((s[0] as { sig: string }).sig = flipped((s[0] as { sig: string }).sig))), 'STATEMENT_SIGNATURE_ERROR', "one bit of the statement's Ed25519 signature flipped (its ML-DSA-44 signature intact)", { rule: '§7.6.1', location: { field: 'envelope.signatures[0].sig' } });
  writeExportV3('signatures-swapped', withSignatures((s) => void s.reverse()), 'FORMAT_ERROR', 'the ML-DSA-44 signature first: the order is Ed25519, then ML-DSA-44', { rule: '§7.6.1' });
  writeExportV3('signature-third', withSignatures((s) => void s.push({ ...(s[1] as { keyid: string; sig: string }) })), 'FORMAT_ERROR', 'a third signature', { rule: '§7.6.1' });
  // The page: a small stand-in file (the real page is a megabyte), named by a statement re-signed with both keys.
  const page = utf8('<!doctype html>\n<title>flashtrail format vector: the verifier page a v3 statement names</title>\n');
  writeFileSync(join(HERE, 'v3/page.html'), page);
  writeFileSync(join(HERE, 'v3/page.other.html'), utf8('<!doctype html>\n<title>another page</title>\n'));
  const named = resealedV3(g, (s) => void (s.predicate['verifierPage'] = { name: 'verify.html', sha256: createHash('sha256').update(page).digest('hex') }));
  writeExportV3('page-named', named, 'ok', 'a statement naming v3/page.html by its SHA-256, re-signed with both keys; verified with that page', { page: 'v3/page.html', needs: 'ml-dsa-44' });
  writeExportV3('page-other', named, 'VERIFIER_PAGE_MISMATCH', 'the same export verified with another page than the one its statement names', { rule: '§7.6.1', page: 'v3/page.other.html', location: { field: 'statement.predicate.verifierPage.sha256' } });
  writeExportV3('page-not-named', resealedV3(g, (s) => void (s.predicate['verifierPage'] = null)), 'VERIFIER_PAGE_MISMATCH', 'a statement that names no page (null), verified with a page', { rule: '§7.6.1', page: 'v3/page.html' });
  writeExportV3('page-member-missing', resealedV3(g, (s) => void delete s.predicate['verifierPage']), 'FORMAT_ERROR', 'a v3 predicate without verifierPage, re-signed', { rule: '§7.6.1' });
  writeExportV3('unit-removed', g.filter((_l, i) => i !== unitIndex(g)), 'CONTENT_DIGEST_ERROR', 'a unit record removed, the statement kept', { rule: '§7.6' });
}

// ---------------------------------------------------------------- provenance

type Doc = { format: string; serial: string; checkpoint: string; entries: { role: string; leafIndex: number; envelope: DsseEnvelope; proof: string }[] } & Record<string, unknown>;

function writeProvenance(version: 'v1' | 'v2', name: string, doc: Doc, expect: string, description: string, extra: { rule?: string; location?: Record<string, string | number> } = {}): void {
  const file = `${version}/provenance.${name}.json`;
  writeFileSync(join(HERE, file), JSON.stringify(doc, null, 2) + '\n');
  vectors.push({ file, kind: 'provenance', format: `flashtrail.provenance.${version}`, expect, description, ...extra });
}

function provenanceVectors(version: 'v1' | 'v2'): void {
  const genuine = () => JSON.parse(read(`${version}/genuine.provenance.json`)) as Doc;
  const units = (d: Doc) => d.entries.map((e, i) => [i, e] as const).filter(([, e]) => e.role === 'unit').map(([i]) => i);
  const edit = (f: (d: Doc) => void) => {
    const d = genuine();
    f(d);
    return d;
  };
  writeProvenance(version, 'genuine', genuine(), 'ok', `a genuine ${version} provenance document of a unit that failed verification, was reworked and passed`);
  writeProvenance(version, 'event-data', edit((d) => {
    const e = d.entries[units(d)[2]!]!;
    const text = fromUtf8(fromBase64(e.envelope.payload)).replace(/"imageSha256":"([0-9a-f])/, (_m, c: string) => `"imageSha256":"${c === '0' ? '1' : '0'}`);
    e.envelope = { ...e.envelope, payload: toBase64(utf8(text)) };
  }), 'SIGNATURE_ERROR', "a hex digit of an event's imageSha256 changed", { rule: '§8.1 step 4' });
  writeProvenance(version, 'event-removed', edit((d) => void d.entries.splice(units(d)[3]!, 1)), 'CHAIN_BROKEN', 'a unit event removed from the middle', { rule: '§3' });
  writeProvenance(version, 'unit-events-missing-first', edit((d) => void d.entries.splice(units(d)[0]!, 1)), 'CHAIN_BROKEN', "the unit's first event removed: the chain does not start at prev null", { rule: '§3' });
  writeProvenance(version, 'duplicate-entry', edit((d) => void d.entries.splice(units(d)[1]!, 0, d.entries[units(d)[1]!]!)), 'DUPLICATE_ENTRY', 'one entry twice', { rule: '§6.2' });
  writeProvenance(version, 'unknown-member', edit((d) => void (d['comment'] = 'hello')), 'FORMAT_ERROR', 'a member the format does not have', { rule: '§6.1' });
  writeProvenance(version, 'proof-other-index', edit((d) => {
    const e = d.entries[units(d)[1]!]!;
    const p = parseTlogProof(e.proof);
    e.proof = formatTlogProof({ ...p, index: p.index + 1 });
  }), 'INCLUSION_PROOF_ERROR', "an entry's tlog-proof names another index", { rule: '§6.3' });
  writeProvenance(version, 'checkpoint-other-key', edit((d) => {
    const forged = signNote(parseNote(d.checkpoint).text, ORIGIN, stranger.secretKey, stranger.publicKey);
    d.entries = d.entries.map((e) => ({ ...e, proof: e.proof.replace(d.checkpoint, forged) }));
    d.checkpoint = forged;
  }), 'CHECKPOINT_SIGNATURE_ERROR', 'the checkpoint signed by another key under the ledger name', { rule: '§5' });
  writeProvenance(version, 'wrong-role', edit((d) => void (d.entries[units(d)[0]!]!.role = 'station')), 'SUBJECT_MISMATCH', 'a unit event given the station role', { rule: '§6.2' });
  writeProvenance(version, 'payload-not-canonical', edit((d) => {
    const e = d.entries[units(d)[0]!]!;
    e.envelope = signEnvelope(e.envelope.payloadType, utf8(JSON.stringify(payloadOf(e.envelope), null, 1)), stationKey);
  }), 'PAYLOAD_NOT_CANONICAL', "a unit event's payload in another byte form, re-signed by its station", { rule: '§2' });
  // The log's stored hash of one leaf changed: its own proof still verifies, its neighbour's names the wrong hash.
  const leafHashDoc = edit((d) => {
    const u = units(d).map((i) => d.entries[i]!);
    const k = u.find((e) => e.leafIndex % 2 === 1 && u.some((x) => x.leafIndex === e.leafIndex - 1))!;
    const neighbour = u.find((x) => x.leafIndex === k.leafIndex - 1)!;
    const p = parseTlogProof(neighbour.proof);
    neighbour.proof = formatTlogProof({ ...p, proof: [new Uint8Array(32).fill(7), ...p.proof.slice(1)] });
  });
  const victim = (leafHashDoc.entries.filter((e) => e.role === 'unit').find((e) => e.leafIndex % 2 === 1 && leafHashDoc.entries.some((x) => x.role === 'unit' && x.leafIndex === e.leafIndex - 1)) as { leafIndex: number }).leafIndex;
  writeProvenance(version, 'stored-leaf-hash', leafHashDoc, 'INCLUSION_PROOF_ERROR', `the proof of leaf ${victim - 1} names another hash for leaf ${victim} than the envelope at leaf ${victim} has (an edited stored leaf hash): reported at leaf ${victim}`, { rule: '§8.1 step 3', location: { leafIndex: victim } });
  if (version !== 'v2') return;
  writeProvenance(version, 'out-of-order', edit((d) => {
    const [i, j] = [units(d)[1]!, units(d)[2]!];
    [d.entries[i], d.entries[j]] = [d.entries[j]!, d.entries[i]!];
  }), 'FORMAT_ERROR', 'two entries not in log order', { rule: '§6.2' });
  writeProvenance(version, 'batch-missing', edit((d) => void (d.entries = d.entries.filter((e) => e.role !== 'batch' && e.role !== 'release'))), 'FORMAT_ERROR', "the unit's BatchOpened and ReleaseApproved left out", { rule: '§6.2' });
  writeProvenance(version, 'proof-extra', edit((d) => {
    const e = d.entries[0]!;
    e.proof = formatTlogProof({ ...parseTlogProof(e.proof), extra: utf8('hello') });
  }), 'FORMAT_ERROR', 'a tlog-proof with an extra line', { rule: '§6.3' });
}

/** v3 provenance (§6.7): the document signed by the ledger; each vector breaks one rule of the statement. */
function provenanceVectorsV3(): void {
  type Doc3 = Doc & { statement: DsseEnvelope };
  const genuine = () => JSON.parse(read('v3/genuine.provenance.json')) as Doc3;
  const write = (name: string, doc: unknown, expect: string, description: string, extra: { rule?: string; location?: Record<string, string | number>; needs?: 'ml-dsa-44' } = {}) => {
    const file = `v3/provenance.${name}.json`;
    writeFileSync(join(HERE, file), JSON.stringify(doc, null, 2) + '\n');
    vectors.push({ file, kind: 'provenance', format: 'flashtrail.provenance.v3', expect, description, signatures: 'hybrid', ...extra });
  };
  const units = (d: Doc) => d.entries.map((e, i) => [i, e] as const).filter(([, e]) => e.role === 'unit').map(([i]) => i);
  /** Re-signs the statement over the document as it now is, with both seeded ledger keys (ML-DSA-44 deterministic). */
  const resign = (d: Doc3, editPredicate: (p: Record<string, unknown>) => void = () => undefined): Doc3 => {
    const { statement: old, ...rest } = d;
    const statement = JSON.parse(fromUtf8(fromBase64(old.payload))) as { subject: { digest: { sha256: string } }[]; predicate: Record<string, unknown> };
    (statement.subject[0] as { digest: { sha256: string } }).digest.sha256 = createHash('sha256').update(canonicalBytes(rest)).digest('hex');
    statement.predicate['entries'] = d.entries.length;
    statement.predicate['unitEvents'] = units(d).length;
    editPredicate(statement.predicate);
    const body = canonicalBytes(statement);
    const ed = signEnvelope('application/vnd.in-toto+json', body, ledgerKey);
    const pq = ml_dsa44.sign(pae(ed.payloadType, body), ledgerMlDsa.secretKey, { extraEntropy: false });
    return { ...rest, statement: { ...ed, signatures: [...ed.signatures, { keyid: ledgerMlDsa.keyId, sig: toBase64(pq) }] } } as Doc3;
  };
  const cut = genuine();
  const last = units(cut).slice(-5);
  cut.entries = cut.entries.filter((_e, i) => !last.includes(i));
  write('genuine', genuine(), 'ok', 'a genuine v3 provenance document written by a real ledger with the seeded Ed25519 and ML-DSA-44 keys', { needs: 'ml-dsa-44' });
  // HISTORY_INCOMPLETE names the leaf of the last event the map holds: the unit's real last event.
  const lastKept = genuine().entries.filter((e) => e.role === 'unit').slice(-1)[0]!;
  // The history (checked first, with the index log key pinned) names what is missing; the statement would too.
  write('last-five-events-deleted', cut, 'HISTORY_INCOMPLETE', "the unit's last five events deleted (a valid prefix of its stream, which v2 cannot tell from the whole)", { rule: '§15.5 step 3', location: { serial: cut.serial, leafIndex: lastKept.leafIndex } });
  const { statement: _s, ...unsigned } = genuine();
  write('statement-missing', unsigned, 'FORMAT_ERROR', 'the statement member removed', { rule: '§6.7', location: { field: 'statement' } });
  const half = genuine();
  half.statement = { ...half.statement, signatures: half.statement.signatures.slice(0, 1) };
  write('pq-signature-removed', half, 'STATEMENT_PQ_SIGNATURE_ERROR', "the statement without its ML-DSA-44 signature, which the hybrid policy requires", { rule: '§7.6.1' });
  const other = genuine();
  other.statement = { ...signEnvelope(other.statement.payloadType, fromBase64(other.statement.payload), stranger), signatures: [...signEnvelope(other.statement.payloadType, fromBase64(other.statement.payload), stranger).signatures, other.statement.signatures[1]!] };
  write('statement-other-key', other, 'STATEMENT_SIGNATURE_ERROR', 'the Ed25519 statement signature made by another key', { rule: '§7.6.1', location: { field: 'envelope.signatures[0].keyid' } });
  write('unit-events-counted-wrong', resign(genuine(), (p) => void (p['unitEvents'] = 99)), 'CONTENT_DIGEST_ERROR', 'the predicate counts 99 unit events, re-signed with both keys', { rule: '§6.7', needs: 'ml-dsa-44' });
  write('predicate-checkpoint', resign(genuine(), (p) => void (p['checkpoint'] = { size: 1, rootHash: '0'.repeat(64) })), 'PREDICATE_MISMATCH', 'the predicate names another checkpoint, re-signed with both keys', { rule: '§6.7', needs: 'ml-dsa-44' });
  write('cut-and-resigned', resign(cut), 'HISTORY_INCOMPLETE', 'the cut document re-signed with both ledger keys: the holder of the ledger keys can vouch for a prefix (what §10 says the statement does not prove), but the committed map still holds every event', { rule: '§15.5 step 3', location: { serial: cut.serial, leafIndex: lastKept.leafIndex }, needs: 'ml-dsa-44' });
}

for (const version of ['v1', 'v2'] as const) {
  for (const f of readdirSync(join(HERE, version))) if (!f.startsWith('genuine.')) rmSync(join(HERE, version, f));
  exportVectors(version);
  provenanceVectors(version);
}

// ---------------------------------------------------------------- provenance v3: the history (§15)
// Each breaks a rule of the history, which is checked before the statement (§8.1): the statement is left as it was.

function historyVectors(): void {
  const version = 'v3';
  const genuine = () => JSON.parse(read(`${version}/genuine.provenance.json`)) as Doc & { history: Record<string, unknown> & { commitment: Record<string, unknown> } };
  const put = (name: string, doc: Doc, expect: string, description: string, extra: { rule?: string; location?: Record<string, string | number> } = {}) => {
    const file = `${version}/provenance.${name}.json`;
    writeFileSync(join(HERE, file), JSON.stringify(doc, null, 2) + '\n');
    vectors.push({ file, kind: 'provenance', format: 'flashtrail.provenance.v3', expect, description, signatures: 'hybrid', ...extra });
  };
  const g = genuine();
  const unitEntries = g.entries.filter((e) => e.role === 'unit');
  const last = unitEntries[unitEntries.length - 1]!;
  put('history-last-event-dropped', { ...g, entries: g.entries.filter((e) => e !== last) }, 'HISTORY_INCOMPLETE', `the unit's last event (leaf ${last.leafIndex}) left out: a prefix that v2 accepts, refused by the history`, { rule: '§15.5 step 3', location: { serial: g.serial, leafIndex: last.leafIndex } });
  put('history-map-root', { ...g, history: { ...g.history, mapRoot: '00'.repeat(32) } }, 'HISTORY_INCOMPLETE', 'a map root that is not the one the index log commits for the checkpoint', { rule: '§15.5 step 2', location: { field: 'history.commitment' } });
  put('history-value-null', { ...g, history: { ...g.history, value: null } }, 'HISTORY_INCOMPLETE', 'the history claims the map holds no event of the unit', { rule: '§15.5 step 3' });
  put('history-unknown-member', { ...g, history: { ...g.history, extra: 1 } }, 'FORMAT_ERROR', 'an unknown member in history', { rule: '§15.4' });
  const { history: _dropped, ...withoutHistory } = g;
  put('history-missing', withoutHistory, 'HISTORY_INCOMPLETE', 'a v3 document without its history, verified with the index log key pinned: nothing proves it complete', { rule: '§15.5', location: { serial: g.serial, field: 'history' } });
  // The index checkpoint re-signed by another key under the index log's name.
  const note = g.history.commitment['checkpoint'] as string;
  const body = parseNote(note).text;
  const name = body.split('\n')[0]!;
  put('history-index-other-key', { ...g, history: { ...g.history, commitment: { ...g.history.commitment, checkpoint: signNote(body, name, stranger.secretKey, stranger.publicKey) } } }, 'CHECKPOINT_SIGNATURE_ERROR', 'the index log checkpoint signed by another key than the pinned index log key', { rule: '§15.5 step 1', location: { field: 'history.commitment.checkpoint' } });
}
// ---------------------------------------------------------------- exports v4: every unit's history (§7.6.2)
// Verified with the index log key; each re-signed with both ledger keys, which a holder of the ledger key alone can do.

function exportVectorsV4(): void {
  const g = read('v4/genuine.export.ndjson').split('\n').slice(0, -1);
  const put = (name: string, lines: string[], expect: string, description: string, extra: { rule?: string; location?: Record<string, string | number>; needs?: 'ml-dsa-44' } = {}, format = 'flashtrail.export.v4') => {
    const file = `v4/export.${name}.ndjson`;
    writeFileSync(join(HERE, file), lines.map((l) => `${l}\n`).join(''));
    vectors.push({ file, kind: 'export', format, expect, description, signatures: 'hybrid', mapKey: true, ...extra });
  };
  const unitLine = (serial: string) => g.findIndex((l) => (JSON.parse(l) as Rec)['serial'] === serial);
  const withLine = (i: number, value: unknown) => g.map((l, j) => (j === i ? canonicalize(value) : l));
  put('genuine', g, 'ok', 'a genuine v4 export of 2 units written by a real ledger that keeps the unit history map, with the seeded keys', { needs: 'ml-dsa-44' });
  const i1 = unitLine('SN-0001');
  const u1 = JSON.parse(g[i1] as string) as Unit & { history: Record<string, unknown> };
  const last = u1.events[u1.events.length - 1]!;
  put('history-last-event-dropped', resealedV3(withLine(i1, { ...u1, events: u1.events.slice(0, -1) })), 'HISTORY_INCOMPLETE', `unit SN-0001's last event (leaf ${last.leafIndex}) left out and the statement re-signed: a prefix that v3 accepts, refused by the history`, { rule: '§7.6.2', location: { line: i1 + 1, serial: 'SN-0001', leafIndex: last.leafIndex } });
  const u2 = JSON.parse(g[unitLine('SN-0002')] as string) as Unit & { history: Record<string, unknown> };
  put('history-proof-other-unit', resealedV3(withLine(i1, { ...u1, history: u2.history })), 'HISTORY_INCOMPLETE', "unit SN-0001 carrying SN-0002's map proof", { rule: '§15.5 step 3', location: { line: i1 + 1, serial: 'SN-0001', field: 'history' } });
  const { history: _h, ...bare } = u1;
  put('history-unit-member-missing', resealedV3(withLine(i1, bare)), 'FORMAT_ERROR', 'a v4 unit record without its history member', { rule: '§7.6.2', location: { line: i1 + 1 } });
  const shared = JSON.parse(g[2] as string) as Rec & { commitment: Record<string, unknown> };
  put('history-map-root', resealedV3(withLine(2, { ...shared, mapRoot: '00'.repeat(32) })), 'HISTORY_INCOMPLETE', 'a map root that is not the one the index log commits for the checkpoint', { rule: '§15.5 step 2', location: { line: 3, field: 'commitment' } });
  const note = shared.commitment['checkpoint'] as string;
  const body = parseNote(note).text;
  put('history-index-other-key', resealedV3(withLine(2, { ...shared, commitment: { ...shared.commitment, checkpoint: signNote(body, body.split('\n')[0]!, stranger.secretKey, stranger.publicKey) } })), 'CHECKPOINT_SIGNATURE_ERROR', 'the index log checkpoint signed by another key than the pinned index log key', { rule: '§15.5 step 1', location: { line: 3, field: 'commitment.checkpoint' } });
  put('history-record-missing', resealedV3(g.filter((_, j) => j !== 2)), 'FORMAT_ERROR', 'a v4 export without its history record (line 3)', { rule: '§7.6.2', location: { line: 3 } });
  put('history-none', read('v3/genuine.export.ndjson').split('\n').slice(0, -1), 'HISTORY_INCOMPLETE', 'the genuine v3 export (no history) verified with the index log key pinned: nothing proves its units complete', { rule: '§7.6.2', location: { line: 3, field: 'history' }, needs: 'ml-dsa-44' }, 'flashtrail.export.v3');
}

// ---------------------------------------------------------------- exports v5: every unit carrying a firmware (§7.6.3)
// Verified with the index log key; each re-signed with both ledger keys, which a holder of the ledger key alone can do.
// v5/genuine.export.ndjson is the export by the approved application (SN-0001 and SN-0002 carry it now),
// v5/genuine.formerly.export.ndjson the one by the digest SN-0001's device reported before its rework (formerly);
// both of one checkpoint, so that records of one are valid proofs in the other.

function exportVectorsV5(): void {
  const g = read('v5/genuine.export.ndjson').split('\n').slice(0, -1);
  const f = read('v5/genuine.formerly.export.ndjson').split('\n').slice(0, -1);
  const put = (name: string, lines: string[], expect: string, description: string, extra: { rule?: string; location?: Record<string, string | number>; needs?: 'ml-dsa-44' } = {}) => {
    const file = `v5/export.${name}.ndjson`;
    writeFileSync(join(HERE, file), lines.map((l) => `${l}\n`).join(''));
    vectors.push({ file, kind: 'export', format: 'flashtrail.export.v5', expect, description, signatures: 'hybrid', mapKey: true, ...extra });
  };
  const unitLine = (ls: string[], serial: string) => ls.findIndex((l) => (JSON.parse(l) as Rec)['record'] === 'unit' && (JSON.parse(l) as Rec)['serial'] === serial);
  const withLine = (ls: string[], i: number, value: unknown) => ls.map((l, j) => (j === i ? canonicalize(value) : l));
  const firmware = JSON.parse(g[3] as string) as Rec & { now: string[]; formerly: string[]; firmware: unknown; sha256: string };
  const other = JSON.parse(f[3] as string) as Rec & { firmware: unknown; sha256: string };
  put('genuine', g, 'ok', 'a genuine v5 export by the approved application digest: the firmware answer (SN-0001 and SN-0002 now) at line 4 and exactly its 2 units', { needs: 'ml-dsa-44' });
  put('genuine-formerly', f, 'ok', "a genuine v5 export by the digest SN-0001's device reported before its rework: SN-0001 formerly, its only unit", { needs: 'ml-dsa-44' });
  const i2 = unitLine(g, 'SN-0002');
  put('unit-removed', resealedV3(g.filter((_, j) => j !== i2)), 'EXPORT_INCOMPLETE', "unit SN-0002's record removed and the statement re-signed: the proved answer holds it", { rule: '§7.6.3', location: { serial: 'SN-0002', line: i2 + 1 } });
  put('serial-moved', resealedV3(withLine(g, 3, { ...firmware, now: ['SN-0002'], formerly: ['SN-0001'] })), 'FIRMWARE_UNITS_INCOMPLETE', 'SN-0001 moved from now to formerly in the firmware record: the set root the map proves differs', { rule: '§15.6.1 step 4', location: { line: 4 } });
  put('proof-other-digest', resealedV3(withLine(g, 3, { ...firmware, firmware: other.firmware })), 'FIRMWARE_UNITS_INCOMPLETE', "the firmware record carrying the map proof of another digest (the formerly export's)", { rule: '§15.6.1 step 4', location: { line: 4, field: 'firmware.proof' } });
  const s2 = g[i2] as string;
  const added = [...f.slice(0, unitLine(f, 'SN-0001') + 1), s2, ...f.slice(unitLine(f, 'SN-0001') + 1)];
  put('unit-added', resealedV3(added), 'SELECTION_MISMATCH', "SN-0002's unit record (same checkpoint) added to the formerly export: SN-0002 is not in its answer", { rule: '§7.6.3', location: { serial: 'SN-0002', line: unitLine(f, 'SN-0001') + 2 } });
  put('firmware-record-missing', resealedV3(g.filter((_, j) => j !== 3)), 'FORMAT_ERROR', 'a v5 export without its firmware record (line 4)', { rule: '§7.6.3', location: { line: 4 } });
  put('firmware-other-selection', resealedV3(withLine(g, 3, { ...firmware, sha256: other.sha256 })), 'SELECTION_MISMATCH', "a firmware record whose digest is not the selection's", { rule: '§7.6.3', location: { line: 4, field: 'sha256' } });
  put('firmware-unsorted', resealedV3(withLine(g, 3, { ...firmware, now: ['SN-0002', 'SN-0001'] })), 'FORMAT_ERROR', "the firmware record's now list not ascending", { rule: '§7.6.3', location: { line: 4 } });
}

for (const f of readdirSync(join(HERE, 'v3'))) if (!f.startsWith('genuine.')) rmSync(join(HERE, 'v3', f));
for (const f of readdirSync(join(HERE, 'v4'))) if (!f.startsWith('genuine.')) rmSync(join(HERE, 'v4', f));
for (const f of readdirSync(join(HERE, 'v5'))) if (!f.startsWith('genuine.')) rmSync(join(HERE, 'v5', f));
exportVectorsV3();
exportVectorsV4();
exportVectorsV5();
provenanceVectorsV3();
historyVectors();
const manifest = {
  description: 'flashtrail format test vectors (docs/format.md §11): genuine provenance documents and exports in each format version, and invalid ones that each break one rule, with the error code a verifier must report.',
  provenance: {
    genuine: 'v1/genuine.* were written by a real ledger at flashtrail commit 061f11c (the last to write v1), v2/genuine.* by the ledger of this repository before v3 (commit 4ddff66), v3/genuine.* by the ledger of this repository with the seeded ML-DSA-44 and index log keys, v4/genuine.export.ndjson by the ledger of this repository that wrote v4 exports first, v5/genuine.*.export.ndjson (exports by firmware digest) by the ledger that wrote v5 first, all with test/vectors/format/generate-genuine.ts',
    invalid: 'derived from the genuine files by test/vectors/format/derive.ts; where a rule can only be broken with a key, the seeded vector keys re-sign (keys.json)',
  },
  ledgerVerifierKey: (JSON.parse(read('keys.json')) as { ledgerVerifierKey: string }).ledgerVerifierKey,
  ledgerMlDsaVerifierKey: (JSON.parse(read('keys.json')) as { ledgerMlDsaVerifierKey: string }).ledgerMlDsaVerifierKey,
  /** The index log's verifier key (docs/format.md §15.3): v3 provenance vectors and export vectors with mapKey expect their codes from a verifier given it. */
  mapVerifierKey: (JSON.parse(read('keys.json')) as { mapVerifierKey: string }).mapVerifierKey,
  vectors,
};
writeFileSync(join(HERE, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
console.log(`wrote ${vectors.length} vectors and manifest.json`);
