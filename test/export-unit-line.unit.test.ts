/**
 * The fast reader of v2+ unit record lines (src/verify/export-unit-line.ts) against the specification's steps
 * (readUnitLineBySteps: records.ts, steps.ts, the ledger's envelope decoder): on every genuine line of the format
 * vectors it reads what the steps read, byte for byte; on lines changed anywhere it accepts nothing the steps refuse
 * (so every failure is still named by the steps: the same code, step and line). Its canonical-JSON check says true
 * only where RFC 8785's canonicalize gives the very text.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FORMAT_VECTOR_DIR, ledgerKey, lines, manifest, mapKey, mlDsaKey } from './helpers/format-vectors.ts';
import { nativeCrypto } from '../src/native/crypto.ts';
import { canonicalize } from '../src/crypto/jcs.ts';
import { fromBase64, fromUtf8, toBase64, utf8 } from '../src/crypto/encoding.ts';
import { inlineUnitVerifier, readUnitLineBySteps, unitContextOf, verifyExportLines, type PreparedContext, type UnitContext, type UnitLine, type UnitRecordVerifier } from '../src/verify/export.ts';
import { inclusionMemo, isCanonicalJsonBytes, isCanonicalJsonText, readCanonicalUnitLine, base64Span } from '../src/verify/export-unit-line.ts';
import { hasHistory } from '../src/verify/export-format.ts';
import { pae } from '../src/crypto/dsse.ts';
import { VerificationError } from '../src/verify/errors.ts';
import type { Decoded } from '../src/verify/steps.ts';

const crypto = nativeCrypto;
const RUNS = 300;

/** The unit lines of a genuine export and the context they are verified against, as the pipeline hands them out. */
async function unitLinesOf(file: string): Promise<{ context: PreparedContext; units: UnitLine[] }> {
  const v = manifest.vectors.find((x) => x.file === file) as (typeof manifest.vectors)[number];
  const inner = inlineUnitVerifier(crypto);
  const units: UnitLine[] = [];
  let seen: UnitContext | null = null;
  const capturing: UnitRecordVerifier = {
    threads: 1,
    verify: (batch, context) => {
      seen = context;
      units.push(...batch);
      return inner.verify(batch, context);
    },
    close: () => inner.close(),
  };
  const bytes = new Uint8Array(readFileSync(join(FORMAT_VECTOR_DIR, file)));
  await verifyExportLines(lines(bytes), ledgerKey, {
    crypto,
    units: capturing,
    ...('signatures' in v && v.signatures === 'hybrid' ? { signatures: { mlDsaKey } } : {}),
    ...('page' in v && typeof v.page === 'string' ? { verifierPage: new Uint8Array(readFileSync(join(FORMAT_VECTOR_DIR, v.page))) } : {}),
    ...('mapKey' in v && v.mapKey === true ? { mapKey } : {}),
  });
  if (!seen) throw new Error(`${file} has no unit records`);
  return { context: unitContextOf(seen), units };
}

/** What the steps read of a line, or the error they throw. */
function bySteps(unit: UnitLine, context: PreparedContext) {
  try {
    const { record, decoded, leafHashes } = readUnitLineBySteps(unit, context, crypto, () => undefined);
    return { ok: true as const, fields: { serial: record.serial, chipId: record.chipId, mac: record.mac, batchId: record.batchId, releaseId: record.releaseId, history: record.history }, decoded, leafHashes };
  } catch (error) {
    if (!(error instanceof VerificationError)) throw error;
    return { ok: false as const, error };
  }
}

/** The fast reader on one line, its memo first holding the verified paths of the lines before it in the file. */
function fast(context: PreparedContext, units: readonly UnitLine[], index: number, bytes: Uint8Array) {
  const memo = inclusionMemo(context.checkpoint);
  const withHistory = hasHistory(context.format);
  for (const u of units.slice(0, index)) expect(readCanonicalUnitLine(u.bytes, u.line, withHistory, memo, crypto)).not.toBeNull();
  return readCanonicalUnitLine(bytes, (units[index] as UnitLine).line, withHistory, memo, crypto);
}

/** Fast accepts ⇒ the steps accept, and read the same. */
function expectNoLooserThanSteps(context: PreparedContext, units: readonly UnitLine[], index: number, bytes: Uint8Array): boolean {
  const read = fast(context, units, index, bytes);
  if (read === null) return false;
  const steps = bySteps({ line: (units[index] as UnitLine).line, bytes }, context);
  expect(steps.ok, steps.ok ? '' : `the fast reader accepted a line the steps refuse: ${steps.error.code} ${steps.error.message}`).toBe(true);
  if (!steps.ok) return true;
  const { decoded, leafHashes, ...fields } = read;
  expect({ ...fields, history: fields.history }).toEqual(steps.fields);
  // What the signature is checked over (steps.ts checkSignature): exactly what verifyEnvelopeSignature would check.
  expect(decoded.map((d) => d.signed)).toEqual(steps.decoded.map((d) => ({ signature: fromBase64((d.envelope.signatures[0] as { sig: string }).sig), message: pae(d.envelope.payloadType, d.payloadBytes as Uint8Array) })));
  // The fast reader's digest and envelope are computed when asked for (getters): asked for here, member by member.
  const members = (d: Decoded) => ({ role: d.role, leafIndex: d.leafIndex, envelope: d.envelope, position: d.position, at: d.at, event: d.event, keyId: d.keyId, bytes: d.bytes, digest: d.digest, payloadBytes: d.payloadBytes });
  expect(decoded.map(members)).toEqual(steps.decoded.map(members));
  expect(steps.decoded.map((d) => Object.keys(d).sort())).toEqual(steps.decoded.map(() => Object.keys(members(decoded[0] as Decoded)).sort()));
  expect(leafHashes).toEqual(steps.leafHashes);
  return true;
}

const GENUINE = ['v2/export.genuine.ndjson', 'v3/export.genuine.ndjson', 'v4/export.genuine.ndjson', 'v5/export.genuine.ndjson', 'v5/export.genuine-formerly.ndjson'];

describe('the fast reader of unit record lines', () => {
  it.each(GENUINE)('%s: reads every unit line as the steps do (members, envelopes, events, leaf hashes), its memo carried line to line', async (file) => {
    const { context, units } = await unitLinesOf(file);
    expect(units.length).toBeGreaterThan(0);
    for (const [i, u] of units.entries()) expect(expectNoLooserThanSteps(context, units, i, u.bytes)).toBe(true);
    // Alone, with nothing remembered, too.
    for (const u of units) expect(readCanonicalUnitLine(u.bytes, u.line, hasHistory(context.format), inclusionMemo(context.checkpoint), crypto)).not.toBeNull();
  });

  it.each(GENUINE)('%s: a line changed at any byte is accepted only if the steps accept it, and read alike (property)', async (file) => {
    const { context, units } = await unitLinesOf(file);
    const interesting = utf8('"\\ ,01A={}[]u/+e.-:n\n\r').reduce((a: number[], c) => [...a, c], [0x80, 0xc3, 0xff, 0x00]);
    fc.assert(
      fc.property(fc.nat(units.length - 1), fc.double({ min: 0, max: 1, noNaN: true }), fc.constantFrom('replace', 'insert', 'delete'), fc.constantFrom(...interesting), (i, where, how, byte) => {
        const original = (units[i] as UnitLine).bytes;
        const at = Math.min(original.length - 1, Math.floor(where * original.length));
        const bytes = how === 'replace' ? original.slice() : how === 'insert' ? new Uint8Array(original.length + 1) : new Uint8Array(original.length - 1);
        if (how === 'replace') bytes[at] = byte;
        else if (how === 'insert') bytes.set([...original.subarray(0, at), byte, ...original.subarray(at)]);
        else bytes.set([...original.subarray(0, at), ...original.subarray(at + 1)]);
        expectNoLooserThanSteps(context, units, i, bytes);
      }),
      { numRuns: RUNS },
    );
  });

  it('leaves to the steps every way a v2 line can be out of form or out of the tree, and they name the failure', async () => {
    const { context, units } = await unitLinesOf('v2/export.genuine.ndjson');
    const index = units.findIndex((u) => (JSON.parse(fromUtf8(u.bytes.subarray(0, -1))) as { events: unknown[] }).events.length >= 2);
    expect(index).toBeGreaterThanOrEqual(0);
    const text = fromUtf8((units[index] as UnitLine).bytes);
    const record = JSON.parse(text) as { chipId: string; events: { envelope: { payload: string; signatures: { sig: string }[] }; leafIndex: number; proof: string[] }[] };
    const line = (r: unknown) => `${canonicalize(r)}\n`;
    const editEvent = (i: number, f: (e: (typeof record.events)[number]) => void) => {
      const r = structuredClone(record);
      f(r.events[i] as (typeof record.events)[number]);
      return line(r);
    };
    const strayBits = (b64: string, fromEnd: number) => {
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
      const i = b64.length - fromEnd;
      return b64.slice(0, i) + (alphabet[alphabet.indexOf(b64[i] as string) ^ 1] as string) + b64.slice(i + 1);
    };
    const payloadOf = (e: (typeof record.events)[number]) => fromUtf8(fromBase64(e.envelope.payload));
    const withData = (payload: string, f: (data: Record<string, unknown>) => Record<string, unknown>) => {
      const event = JSON.parse(payload) as { data: Record<string, unknown> };
      return { ...event, data: f(event.data) };
    };
    const changed: [string, string, string][] = [
      ['a space after the brace', text.replace('{"batchId"', '{ "batchId"'), 'RECORD_NOT_CANONICAL'],
      ['members out of order', `${JSON.stringify(Object.fromEntries(Object.entries(record).reverse()))}\n`, 'RECORD_NOT_CANONICAL'],
      ['a member more', text.replace(/}\n$/, ',"zz":1}\n'), 'FORMAT_ERROR'],
      ['an escape in the chip id', text.replace(`"chipId":"${record.chipId}"`, `"chipId":"\\u00${record.chipId.charCodeAt(0).toString(16)}${record.chipId.slice(1)}"`), 'RECORD_NOT_CANONICAL'],
      ['a leaf index with a leading zero', text.replace(`"leafIndex":${record.events[1]?.leafIndex}`, `"leafIndex":0${record.events[1]?.leafIndex}`), 'FORMAT_ERROR'],
      ['a leaf index written 5.0', text.replace(`"leafIndex":${record.events[1]?.leafIndex}`, `"leafIndex":${record.events[1]?.leafIndex}.0`), 'RECORD_NOT_CANONICAL'],
      ['another leaf index', editEvent(1, (e) => (e.leafIndex += 1)), 'INCLUSION_PROOF_ERROR'],
      ['the top proof hash of a later event changed', editEvent(1, (e) => (e.proof[e.proof.length - 1] = strayBits(e.proof[e.proof.length - 1] as string, 10))), 'INCLUSION_PROOF_ERROR'],
      ['the lowest proof hash changed', editEvent(1, (e) => (e.proof[0] = strayBits(e.proof[0] as string, 10))), 'INCLUSION_PROOF_ERROR'],
      // Where two events' leaves are siblings, the later one's inclusion is settled by comparing the two proofs' lowest hashes.
      ['the lowest proof hash of the first event changed', editEvent(0, (e) => (e.proof[0] = strayBits(e.proof[0] as string, 10))), 'INCLUSION_PROOF_ERROR'],
      ['the second proof hash of a later event changed', editEvent(1, (e) => (e.proof[1] = strayBits(e.proof[1] as string, 10))), 'INCLUSION_PROOF_ERROR'],
      ['a proof hash with stray bits', editEvent(1, (e) => (e.proof[e.proof.length - 1] = strayBits(e.proof[e.proof.length - 1] as string, 2))), 'FORMAT_ERROR'],
      ['a proof hash left out', editEvent(1, (e) => e.proof.pop()), 'INCLUSION_PROOF_ERROR'],
      ['a proof hash more', editEvent(1, (e) => e.proof.push(e.proof[0] as string)), 'INCLUSION_PROOF_ERROR'],
      ['a signature with stray bits', editEvent(0, (e) => ((e.envelope.signatures[0] as { sig: string }).sig = strayBits((e.envelope.signatures[0] as { sig: string }).sig, 3))), 'ENVELOPE_ERROR'],
      ['a payload with a space', editEvent(0, (e) => (e.envelope.payload = toBase64(utf8(payloadOf(e).replace('{"data"', '{ "data"'))))), 'PAYLOAD_NOT_CANONICAL'],
      ['a payload with an escaped letter', editEvent(0, (e) => (e.envelope.payload = toBase64(utf8(payloadOf(e).replace(/"type":"(.)/, (_, c: string) => `"type":"\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`))))), 'PAYLOAD_NOT_CANONICAL'],
      ['a payload with members out of order', editEvent(0, (e) => (e.envelope.payload = toBase64(utf8(JSON.stringify({ type: (JSON.parse(payloadOf(e)) as { type: string }).type, ...(JSON.parse(payloadOf(e)) as object) }))))), 'PAYLOAD_NOT_CANONICAL'],
      // The event's schema, checked on the fast path by a predicate built from it (schemas/predicate.ts): a payload
      // in canonical form that the schema refuses is left to the steps, which say SCHEMA_ERROR.
      ['a payload with a member more in its data', editEvent(0, (e) => (e.envelope.payload = toBase64(utf8(canonicalize(withData(payloadOf(e), (d) => ({ ...d, zz: 1 }))))))), 'SCHEMA_ERROR'],
      ['a payload with a serial that is no identifier', editEvent(0, (e) => (e.envelope.payload = toBase64(utf8(canonicalize(withData(payloadOf(e), (d) => ({ ...d, serial: 'SN 1' }))))))), 'SCHEMA_ERROR'],
      ['a payload with a number for a string', editEvent(0, (e) => (e.envelope.payload = toBase64(utf8(canonicalize(withData(payloadOf(e), (d) => ({ ...d, batchId: 7 }))))))), 'SCHEMA_ERROR'],
      ['a payload whose time has no milliseconds', editEvent(0, (e) => (e.envelope.payload = toBase64(utf8(canonicalize({ ...(JSON.parse(payloadOf(e)) as object), occurredAt: '2026-03-02T08:00:00Z' }))))), 'SCHEMA_ERROR'],
      ['a payload of schema version 3', editEvent(0, (e) => (e.envelope.payload = toBase64(utf8(canonicalize({ ...(JSON.parse(payloadOf(e)) as object), schemaVersion: 3 }))))), 'SCHEMA_ERROR'],
      // The canonical check without writing the payload out again (isCanonicalJsonBytes): a member twice is not canonical.
      ['a payload with a member twice', editEvent(0, (e) => (e.envelope.payload = toBase64(utf8(payloadOf(e).replace('"batchId":"B-1"', '"batchId":"B-1","batchId":"B-1"'))))), 'PAYLOAD_NOT_CANONICAL'],
      ['no final newline', text.slice(0, -1), 'FORMAT_ERROR'],
      ['CRLF', text.replace(/\n$/, '\r\n'), 'FORMAT_ERROR'],
    ];
    for (const [what, changedText, code] of changed) {
      expect(changedText, what).not.toBe(text);
      const bytes = utf8(changedText);
      expect(fast(context, units, index, bytes), what).toBeNull();
      const steps = bySteps({ line: (units[index] as UnitLine).line, bytes }, context);
      expect(steps.ok ? 'accepted' : steps.error.code, what).toBe(code);
    }
  });

  it('v4: a history member out of its schema or form is left to the steps', async () => {
    const { context, units } = await unitLinesOf('v4/export.genuine.ndjson');
    const text = fromUtf8((units[0] as UnitLine).bytes);
    const record = JSON.parse(text) as { history: { value: string | null; proof: string } };
    for (const [what, history] of [['a value that is not canonical base64', { ...record.history, value: 'A===' }], ['a member more', { ...record.history, x: 1 }], ['no value', { proof: record.history.proof }]] as const) {
      const bytes = utf8(`${canonicalize({ ...record, history })}\n`);
      expect(fast(context, units, 0, bytes), what).toBeNull();
      expect(bySteps({ line: 1, bytes }, context).ok, what).toBe(false);
    }
  });
});

describe('the fast canonical-JSON check (property)', () => {
  const texts = (value: unknown) => {
    const out = [JSON.stringify(value)];
    try {
      out.push(canonicalize(value));
    } catch {
      // a lone surrogate has no RFC 8785 form
    }
    return out;
  };
  it('says true only where canonicalize gives the very text', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.dictionary(fc.string({ unit: 'binary', maxLength: 4 }), fc.oneof(fc.string({ unit: 'binary', maxLength: 4 }), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }))), (a, b) => {
        for (const value of [a, b, { b, a }, [b, a]]) {
          for (const text of texts(value)) {
            const parsed = JSON.parse(text) as unknown;
            if (isCanonicalJsonText(parsed, text)) expect(canonicalize(parsed)).toBe(text);
            if (isCanonicalJsonBytes(parsed, utf8(text), text)) expect(canonicalize(parsed)).toBe(text);
          }
        }
      }),
      { numRuns: RUNS * 3 },
    );
  });

  it('says true of plain canonical texts, false of others', () => {
    const canonical = canonicalize({ b: [1, 2.5, 'x'], a: { d: null, c: true }, e: 'ü €' });
    expect(isCanonicalJsonText(JSON.parse(canonical), canonical)).toBe(true);
    for (const other of ['{"b":1,"a":2}', '{"a": 2}', '{"a":1.0}', '{"a":"\\u0041"}', '{"a":"\\ud800"}', '{"a":1,"a":1}', '{"10":1,"9":2}']) expect(isCanonicalJsonText(JSON.parse(other), other), other).toBe(false);
    // Without writing the value out (no escape, whitespace, fraction, exponent or long integer), and with each of those.
    const plain = ['{"a":1,"b":[-12,0,true,null,"x"],"c":{"d":"ü €"}}', '5', '"abc"', '[]', '{}', '{"__proto__":1}', '{"n":123456789012345}'];
    for (const text of plain) expect(isCanonicalJsonBytes(JSON.parse(text), utf8(text), text), text).toBe(true);
    const near = ['{"a":1,"a":1}', '{"a":{"b":1,"b":2}}', '{"a":-0}', '{"a":1.0}', '{"a":1e2}', '{"a":1E2}', '{"a":1234567890123456789}', '{ "a":1}', '{"a":1}\n', '{"a":"\\u0041"}', '{"a":"\\""}', '{"b":1,"a":2}', '[{"b":1,"a":2}]'];
    for (const text of near) expect(isCanonicalJsonBytes(JSON.parse(text), utf8(text), text), text).toBe(canonicalize(JSON.parse(text)) === text);
    for (const text of ['{"a":"\\""}', '{"a":1.5}', '{"a":1e+21}']) expect(isCanonicalJsonBytes(JSON.parse(text), utf8(text), text), text).toBe(true);
    const deep = `${'['.repeat(65)}${']'.repeat(65)}`;
    expect(isCanonicalJsonText(JSON.parse(deep), deep)).toBe(false);
    expect(isCanonicalJsonBytes(JSON.parse(deep), utf8(deep), deep)).toBe(false);
    const deepest = `${'['.repeat(64)}${']'.repeat(64)}`;
    expect(isCanonicalJsonText(JSON.parse(deepest), deepest)).toBe(true);
  });
});

describe('strict base64 of a byte span', () => {
  it('decodes exactly what fromBase64 decodes, and refuses what it refuses (property)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 40 }).map((b) => toBase64(b)), fc.string({ unit: fc.constantFrom(...'AQgw+/=Zz09 '.split('')), maxLength: 12 })), (text) => {
        let expected: Uint8Array | null;
        try {
          expected = fromBase64(text);
        } catch {
          expected = null;
        }
        const bytes = utf8(`"${text}"`);
        expect(base64Span(bytes, 1, bytes.length - 1)).toEqual(expected);
      }),
      { numRuns: RUNS * 3 },
    );
  });
});
