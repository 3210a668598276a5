/**
 * Vectors we did not write and properties over inputs nobody chose:
 * - Wycheproof's Ed25519 vectors (test/vectors/wycheproof, with their source) through both Ed25519 paths;
 * - fast-check properties: RFC 8785 gives one text per value and the envelope decoder accepts only that
 *   text; strict base64 has one encoding per byte string; random bytes and random edits of a genuine
 *   envelope never crash the decoder (only EnvelopeDecodeError) and are never accepted in two byte forms;
 *   random edits of a provenance document never end the verifier in anything but a VerificationError.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import wycheproof from './vectors/wycheproof/ed25519_test.json' with { type: 'json' };
import { fromBase64, fromHex, fromUtf8, toBase64, utf8 } from '../src/crypto/encoding.ts';
import { portableCrypto } from '../src/crypto/backend.ts';
import { sha256Hex } from '../src/crypto/sha256.ts';
import { nativeCrypto, toBase64Native } from '../src/native/crypto.ts';
import { canonicalBytes, canonicalize, CanonicalizationError } from '../src/crypto/jcs.ts';
import { decodeUntrustedEnvelope, EnvelopeDecodeError, signEvent } from '../src/event/codec.ts';
import { newSigner } from '../src/crypto/ed25519.ts';
import { goldenEvents, goldenSigner } from './helpers/golden.ts';
import { envelopeBytes, type DsseEnvelope } from '../src/crypto/dsse.ts';
import { VerificationError, verifyProvenance, parseVerifierKey } from '../src/verify/index.ts';

const VECTORS = join(fileURLToPath(import.meta.url), '..', 'vectors');
const RUNS = 300;

describe('Wycheproof Ed25519 (C2SP/wycheproof testvectors_v1/ed25519_test.json)', () => {
  it('is the copy SOURCE.md names', () => {
    const digest = createHash('sha256').update(readFileSync(join(VECTORS, 'wycheproof', 'ed25519_test.json'))).digest('hex');
    expect(readFileSync(join(VECTORS, 'wycheproof', 'SOURCE.md'), 'utf8')).toContain(digest);
    expect(wycheproof.numberOfTests).toBe(wycheproof.testGroups.reduce((n, g) => n + g.tests.length, 0));
  });

  for (const backend of [portableCrypto, nativeCrypto]) {
    it(`${backend.name}: every vector gets Wycheproof's verdict (valid accepted, invalid refused)`, () => {
      const wrong: string[] = [];
      for (const group of wycheproof.testGroups) {
        const pk = fromHex(group.publicKey.pk);
        for (const t of group.tests) {
          const verdict = backend.verifyEd25519(fromHex(t.sig), fromHex(t.msg), pk);
          if (verdict !== (t.result === 'valid')) wrong.push(`tcId ${t.tcId} (${t.comment}; ${t.flags.join(',')}): expected ${t.result}, got ${verdict ? 'valid' : 'invalid'}`);
        }
      }
      expect(wrong).toEqual([]);
    });
  }
});

/** JSON values as our events use them: strings (any Unicode, lone surrogates excluded), integers, booleans, null. */
const jsonValue = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, fc.string({ unit: 'grapheme' }), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(null), tie('array'), tie('object')),
  array: fc.array(tie('value'), { maxLength: 5 }),
  object: fc.dictionary(fc.string({ unit: 'grapheme', maxLength: 8 }), tie('value'), { maxKeys: 5 }),
})).value;

/** Another text of the same JSON value: members in another order, whitespace, escapes where JSON allows them. */
function otherSerialisation(value: unknown, rnd: () => number): string {
  const ws = () => [' ', '\n', '\t', ''][Math.floor(rnd() * 4)] as string;
  const str = (s: string) => (rnd() < 0.5 ? JSON.stringify(s) : `"${s.split('').map((c) => (rnd() < 0.3 ? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}` : JSON.stringify(c).slice(1, -1))).join('')}"`);
  const walk = (v: unknown): string => {
    if (Array.isArray(v)) return `[${ws()}${v.map(walk).join(`${ws()},${ws()}`)}${ws()}]`;
    if (v !== null && typeof v === 'object') {
      const keys = Object.keys(v).sort(() => rnd() - 0.5);
      return `{${ws()}${keys.map((k) => `${str(k)}${ws()}:${ws()}${walk((v as Record<string, unknown>)[k])}`).join(`${ws()},`)}${ws()}}`;
    }
    if (typeof v === 'string') return str(v);
    if (typeof v === "number" && Number.isInteger(v) && !JSON.stringify(v).includes("e") && rnd() < 0.3) return `${JSON.stringify(v)}.0`;
    return JSON.stringify(v);
  };
  return walk(value);
}

describe('RFC 8785 canonicalisation (property)', () => {
  it('one text per value: canonicalize is a fixed point of parse, and any other text of the value canonicalises to it', () => {
    fc.assert(
      fc.property(jsonValue, fc.integer(), (value, seed) => {
        const canonical = canonicalize(value);
        expect(canonicalize(JSON.parse(canonical))).toBe(canonical);
        let s = seed;
        const rnd = () => ((s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
        const other = otherSerialisation(value, rnd);
        expect(canonicalize(JSON.parse(other))).toBe(canonical);
      }),
      { numRuns: RUNS },
    );
  });

  it('refuses lone surrogates wherever they are, with a location', () => {
    fc.assert(
      fc.property(fc.string(), fc.integer({ min: 0xd800, max: 0xdfff }), (s, unit) => {
        const bad = s + String.fromCharCode(unit);
        expect(() => canonicalize({ data: [bad] })).toThrow(CanonicalizationError);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('envelope bytes (property)', () => {
  /** What envelopeBytes must equal: the envelope's three members and each signature's two, canonicalized. */
  const generic = (e: DsseEnvelope) => canonicalBytes({ payloadType: e.payloadType, payload: e.payload, signatures: e.signatures.map((s) => ({ keyid: s.keyid, sig: s.sig })) });
  const anyString = fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary' }), fc.constantFrom('', '"', '\\', '\u0000\u001f\u007f', '\u2028\u2029', 'é😀', '\ud800'));
  const envelope = fc.record({ payloadType: anyString, payload: anyString, signatures: fc.array(fc.record({ keyid: anyString, sig: anyString }), { maxLength: 3 }) });

  it('written directly, they are the RFC 8785 bytes canonicalBytes gives, and refused where it refuses', () => {
    fc.assert(
      fc.property(envelope, (e) => {
        let expected: Uint8Array | CanonicalizationError;
        try {
          expected = generic(e);
        } catch (error) {
          expected = error as CanonicalizationError;
        }
        if (expected instanceof CanonicalizationError) {
          expect(() => envelopeBytes(e)).toThrow(expected.message);
          return;
        }
        expect(fromUtf8(envelopeBytes(e))).toBe(fromUtf8(expected));
      }),
      { numRuns: RUNS * 3 },
    );
  });

  it('an envelope of the wrong shape still gets the generic form (members not strings are serialized as they are)', () => {
    const odd = { payloadType: 'x', payload: 7, signatures: [{ keyid: null, sig: 'a' }] } as unknown as DsseEnvelope;
    expect(fromUtf8(envelopeBytes(odd))).toBe('{"payload":7,"payloadType":"x","signatures":[{"keyid":null,"sig":"a"}]}');
  });
});

describe('strict base64 (property)', () => {
  it("Node's encoder (toBase64Native, what the server's evidence uses) gives the portable text, views into larger buffers included", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2500 }), fc.nat({ max: 7 }), (bytes, offset) => {
        const inside = new Uint8Array(bytes.length + offset + 3);
        inside.set(bytes, offset);
        expect(toBase64Native(inside.subarray(offset, offset + bytes.length))).toBe(toBase64(bytes));
      }),
      { numRuns: RUNS },
    );
  });

  it('round-trips every byte string, and accepts exactly one text per byte string', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
        expect(fromBase64(toBase64(bytes))).toEqual(bytes);
      }),
      { numRuns: RUNS },
    );
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ \n'.split('')), maxLength: 24 }), (text) => {
        let bytes: Uint8Array;
        try {
          bytes = fromBase64(text);
        } catch (error) {
          expect(error).toBeInstanceOf(TypeError);
          return;
        }
        // Accepted: then it is the one encoding of those bytes.
        expect(toBase64(bytes)).toBe(text);
      }),
      { numRuns: RUNS * 5 },
    );
  });
});

describe('the untrusted envelope decoder (property)', () => {
  const signer = goldenSigner;
  const genuine = goldenEvents(null).map((e) => signEvent(e, signer));

  /** The decoder either accepts or throws its own error: nothing else, whatever the input. */
  const decodeOrCode = (input: unknown): string => {
    try {
      const d = decodeUntrustedEnvelope(input);
      return `ok ${fromUtf8(d.bytes)}`;
    } catch (error) {
      if (!(error instanceof EnvelopeDecodeError)) throw error;
      return error.code;
    }
  };

  it('random JSON values never crash it', () => {
    fc.assert(fc.property(jsonValue, (value) => void decodeOrCode(value)), { numRuns: RUNS });
    fc.assert(fc.property(fc.record({ payloadType: fc.string(), payload: fc.string(), signatures: fc.array(fc.record({ keyid: fc.string(), sig: fc.string() })) }), (value) => void decodeOrCode(value)), { numRuns: RUNS });
  });

  it('a payload re-serialised in any other byte form is refused, even signed (one event, one byte form)', () => {
    const station = newSigner();
    fc.assert(
      fc.property(fc.constantFrom(...goldenEvents(null)), fc.integer(), (event, seed) => {
        let s = seed;
        const rnd = () => ((s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
        const text = otherSerialisation(event, rnd);
        const canonical = canonicalize(event);
        const envelope = signEvent(event, station);
        const other = { ...envelope, payload: toBase64(utf8(text)) };
        const verdict = decodeOrCode(other);
        if (text === canonical) expect(verdict).toMatch(/^ok /);
        else expect(verdict).not.toMatch(/^ok /);
      }),
      { numRuns: RUNS },
    );
  });

  it('random byte edits of a genuine envelope are refused or decode to the same single byte form', () => {
    fc.assert(
      fc.property(fc.constantFrom(...genuine), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), (envelope, edits) => {
        const payload = fromBase64(envelope.payload).slice();
        for (const [at, byte] of edits) payload[at % payload.length] = byte;
        const edited: DsseEnvelope = { ...envelope, payload: toBase64(payload) };
        const verdict = decodeOrCode(edited);
        if (verdict.startsWith('ok ')) {
          // Accepted only if the edited payload is itself canonical: its bytes are then its only form.
          expect(canonicalize(JSON.parse(fromUtf8(payload)))).toBe(fromUtf8(payload));
        }
      }),
      { numRuns: RUNS },
    );
  });
});

describe('the provenance verifier (property)', () => {
  it('random edits of a document end in a VerificationError, never another exception', () => {
    const signer = goldenSigner;
    const key = parseVerifierKey(`example.test/log+${'00000000'}+${toBase64(Uint8Array.of(1, ...signer.publicKey))}`.replace('00000000', noteId(signer.publicKey)));
    const entry = { role: 'unit', leafIndex: 0, envelope: signEvent(goldenEvents(null)[0] as never, signer), proof: 'c2sp.org/tlog-proof@v1\nindex 0\n\nx' };
    const base = { format: 'flashtrail.provenance.v2', serial: 'SN1', checkpoint: 'example.test/log\n1\nAAAA\n\n— example.test/log AAAA\n', entries: [entry] };
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom('format', 'serial', 'checkpoint', 'entries', 'role', 'leafIndex', 'envelope', 'proof', 'payload', 'signatures'), jsonValue), { maxLength: 3 }), (edits) => {
        const doc = JSON.parse(JSON.stringify(base)) as Record<string, unknown> & { entries: unknown };
        for (const [field, value] of edits) {
          const e: unknown = Array.isArray(doc.entries) ? doc.entries[0] : undefined;
          const isObject = (x: unknown): x is Record<string, unknown> => x !== null && typeof x === 'object' && !Array.isArray(x);
          if (field in doc) doc[field] = value;
          else if (isObject(e) && field in e) e[field] = value;
          else if (isObject(e) && isObject(e['envelope'])) e['envelope'][field] = value;
        }
        try {
          verifyProvenance(doc, key);
        } catch (error) {
          expect(error).toBeInstanceOf(VerificationError);
        }
      }),
      { numRuns: RUNS },
    );
  });
});

function noteId(publicKey: Uint8Array): string {
  return createHash('sha256').update(Buffer.concat([Buffer.from('example.test/log\n\x01'), Buffer.from(publicKey)])).digest('hex').slice(0, 8);
}

describe('inclusion path ranges (the diagnosis of a failed proof names leaves by them)', () => {
  it('are the subtrees whose hashes an RFC 6962 inclusion proof lists, in order', async () => {
    const { MemoryTree, inclusionProof, rangeHash } = await import('../src/merkle/proofs.ts');
    const { inclusionPathRanges } = await import('../src/verify/steps.ts');
    const tree = new MemoryTree();
    for (let i = 0; i < 70; i++) tree.append(portableCrypto.sha256(Uint8Array.of(i)));
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 70 }), fc.nat(), (size, at) => {
        const index = at % size;
        const proof = inclusionProof(tree, index, size);
        const ranges = inclusionPathRanges(index, size);
        expect(ranges).toHaveLength(proof.length);
        ranges.forEach(([s, e], i) => expect(rangeHash(tree, s, e - s)).toEqual(proof[i]));
      }),
      { numRuns: RUNS },
    );
  });
});

describe('the fast check of v2 unit records (property)', () => {
  it('accepts only what the published schema accepts', async () => {
    const { isWellFormedUnitV2 } = await import('../src/verify/records.ts');
    const { ExportUnitV2 } = await import('../schemas/export.ts');
    const { z } = await import('zod');
    const loose = ExportUnitV2.extend({ events: z.array(z.strictObject({ leafIndex: z.int().nonnegative().max(Number.MAX_SAFE_INTEGER), envelope: z.unknown(), proof: z.array(z.string().regex(/^[A-Za-z0-9+/]{43}=$/)).max(64) })).min(1) });
    const genuine = {
      batchId: 'B-1', chipId: 'esp32s3-0001', mac: '24:0a:c4:12:34:56', record: 'unit', releaseId: 'R-1', serial: 'SN-1',
      events: [{ envelope: {}, leafIndex: 3, proof: ['A'.repeat(43) + '='] }],
    };
    const members = ['batchId', 'chipId', 'mac', 'record', 'releaseId', 'serial', 'events', 'extra'];
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom(...members), fc.oneof(jsonValue, fc.constant(undefined), fc.string({ maxLength: 70 }), fc.nat())), { maxLength: 3 }), fc.option(fc.tuple(fc.constantFrom('leafIndex', 'proof', 'envelope', 'x'), jsonValue)), (edits, eventEdit) => {
        const v = JSON.parse(JSON.stringify(genuine)) as Record<string, unknown> & { events: Record<string, unknown>[] };
        for (const [k, x] of edits) {
          if (x === undefined) delete v[k];
          else v[k] = x;
        }
        if (eventEdit && Array.isArray(v.events) && v.events[0] && typeof v.events[0] === 'object') (v.events[0] as Record<string, unknown>)[eventEdit[0]] = eventEdit[1];
        if (isWellFormedUnitV2(v)) expect(loose.safeParse(v).success).toBe(true);
      }),
      { numRuns: RUNS * 3 },
    );
    expect(isWellFormedUnitV2(genuine)).toBe(true);
  });

  it('with history (v4, docs/format.md §7.6.2): accepts only what ExportUnitV4 accepts', async () => {
    const { isWellFormedUnitV2 } = await import('../src/verify/records.ts');
    const { ExportUnitV4 } = await import('../schemas/export.ts');
    const { z } = await import('zod');
    const loose = ExportUnitV4.extend({ events: z.array(z.strictObject({ leafIndex: z.int().nonnegative().max(Number.MAX_SAFE_INTEGER), envelope: z.unknown(), proof: z.array(z.string().regex(/^[A-Za-z0-9+/]{43}=$/)).max(64) })).min(1) });
    const genuine = {
      batchId: 'B-1', chipId: 'esp32s3-0001', mac: '24:0a:c4:12:34:56', record: 'unit', releaseId: 'R-1', serial: 'SN-1',
      events: [{ envelope: {}, leafIndex: 3, proof: ['A'.repeat(43) + '='] }],
      history: { value: 'A'.repeat(64), proof: 'AAAA' },
    };
    const base64ish = fc.oneof(fc.constant(null), fc.constant(''), fc.constant('AA=='), fc.constant('A==='), fc.constant('A'.repeat(129) + '==='), fc.string({ maxLength: 12 }), fc.nat(), jsonValue);
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom('value', 'proof', 'extra'), fc.oneof(base64ish, fc.constant(undefined))), { maxLength: 3 }), fc.option(jsonValue), (edits, replaced) => {
        const v = JSON.parse(JSON.stringify(genuine)) as Record<string, unknown> & { history: Record<string, unknown> };
        for (const [k, x] of edits) {
          if (x === undefined) delete v.history[k];
          else v.history[k] = x;
        }
        if (replaced !== null) (v as Record<string, unknown>)['history'] = replaced;
        if (isWellFormedUnitV2(v, true)) expect(loose.safeParse(v).success).toBe(true);
        // Without history the v2 check refuses a v4 record, and the v4 check a v2 one.
        expect(isWellFormedUnitV2(v)).toBe(false);
      }),
      { numRuns: RUNS * 3 },
    );
    expect(isWellFormedUnitV2(genuine, true)).toBe(true);
    const { history: _h, ...v2 } = genuine;
    expect(isWellFormedUnitV2(v2, true)).toBe(false);
  });
});

describe('SHA-256 as hex', () => {
  it('is the same on both backends, and the hex of the bytes, for random inputs of every length to 2 KiB', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), (bytes) => {
        const expected = Buffer.from(portableCrypto.sha256(bytes)).toString('hex');
        expect(sha256Hex(bytes, nativeCrypto)).toBe(expected);
        expect(sha256Hex(bytes, portableCrypto)).toBe(expected);
      }),
      { numRuns: 300 },
    );
  });
});
