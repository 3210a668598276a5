/**
 * decodeStoredEnvelope (Node's decoders, for rebuilds) gives exactly what decodeTrustedEnvelope (the portable,
 * strict decoders) gives, on events with multi-byte UTF-8 text, every base64 padding length, and a payload
 * byte range that does not start at offset 0 of its buffer (as a row read from SQLite may).
 */
import { describe, expect, it } from 'vitest';
import { decodeTrustedEnvelope, signEvent } from '../src/event/codec.ts';
import { envelopeBytes } from '../src/crypto/dsse.ts';
import { newSigner } from '../src/crypto/ed25519.ts';
import { nativeCrypto } from '../src/native/crypto.ts';
import { decodeStoredEnvelope, decodeStoredEvent } from '../src/native/stored-envelope.ts';
import { ev, unit } from './helpers/events.ts';

const signer = newSigner();

describe('decodeStoredEnvelope', () => {
  const events = [
    unit.scanned(),
    unit.shipped(),
    unit.efuse(),
    // Multi-byte characters in the payload: two-, three- and four-byte UTF-8 sequences.
    ev('UnitScrapped', { serial: 'SN1', reason: 'Gehäuse gerissen — 破损 🔧' }),
    // Reasons of three consecutive lengths: the payload's base64 ends with each padding length.
    ...['a', 'ab', 'abc'].map((reason) => ev('UnitReworked', { serial: 'SN1', reason })),
  ];

  it('decodes each envelope to what the strict decoder gives', () => {
    const paddings = new Set<number>();
    for (const event of events) {
      const envelope = signEvent(event, signer);
      paddings.add(envelope.payload.length - envelope.payload.replace(/=+$/, '').length);
      const bytes = envelopeBytes(envelope);
      expect(decodeStoredEnvelope(bytes)).toEqual(decodeTrustedEnvelope(bytes, nativeCrypto));
    }
    expect([...paddings].sort()).toEqual([0, 1, 2]);
  });

  it('reads only its own byte range of a larger buffer', () => {
    const bytes = envelopeBytes(signEvent(events[3] as (typeof events)[number], signer));
    const larger = new Uint8Array(bytes.length + 20).fill(0x7b);
    larger.set(bytes, 7);
    const view = larger.subarray(7, 7 + bytes.length);
    const decoded = decodeStoredEnvelope(view);
    expect(decoded.event).toEqual(events[3]);
    expect(decoded.digest).toBe(decodeTrustedEnvelope(bytes, nativeCrypto).digest);
  });

  it('decodeStoredEvent gives the event and digest alone, from the payload member, of canonical and other bytes', () => {
    for (const event of events) {
      const bytes = envelopeBytes(signEvent(event, signer));
      const strict = decodeTrustedEnvelope(bytes, nativeCrypto);
      expect(decodeStoredEvent(bytes)).toEqual({ event: strict.event, digest: strict.digest });
      const larger = new Uint8Array(bytes.length + 9).fill(0x22);
      larger.set(bytes, 4);
      expect(decodeStoredEvent(larger.subarray(4, 4 + bytes.length))).toEqual({ event: strict.event, digest: strict.digest });
    }
    // Not the canonical member order (never stored): the whole envelope is parsed instead, to the same event.
    const envelope = signEvent(events[3] as (typeof events)[number], signer);
    const reordered = new TextEncoder().encode(JSON.stringify({ signatures: envelope.signatures, payloadType: envelope.payloadType, payload: envelope.payload }));
    expect(decodeStoredEvent(reordered).event).toEqual(events[3]);
  });
});
