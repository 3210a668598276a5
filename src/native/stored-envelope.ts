/**
 * decodeTrustedEnvelope (src/event/codec.ts) at Node speed, for the paths that read the whole log back: a
 * projection rebuild decodes every stored event once. Stored envelopes were fully checked on the way in
 * (strict base64, canonical payload, schema, signatures), so reading them back needs no strictness of its
 * own: Node's UTF-8 and base64 decoders are 2-4 times faster than the portable, strict ones the browser
 * verifier must use. The result is the same object (test/stored-envelope.unit.test.ts).
 */
import { hash } from 'node:crypto';
import type { DsseEnvelope } from '../crypto/dsse.ts';
import type { DecodedEvent } from '../event/codec.ts';
import type { LedgerEvent } from '../../schemas/index.ts';

const bufferOf = (bytes: Uint8Array): Buffer => (Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));

export function decodeStoredEnvelope(bytes: Uint8Array): DecodedEvent {
  const envelope = JSON.parse(bufferOf(bytes).toString('utf8')) as DsseEnvelope;
  const event = JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')) as LedgerEvent;
  const digest = hash('sha256', bytes, 'hex');
  return { envelope, event, bytes, digest };
}

/** What a projection reads of a stored event: the event, and the digest the stream's next event chains to. */
export interface StoredEvent {
  readonly event: LedgerEvent;
  /** SHA-256 of the stored envelope bytes, hex. */
  readonly digest: string;
}

/**
 * Every stored envelope is the RFC 8785 form of a DSSE envelope (envelopeBytes, src/crypto/dsse.ts), whose
 * first member is `payload`: its base64 text runs from here to the next quote (base64 has none, and the
 * canonical form escapes nothing in it).
 */
const PAYLOAD_PREFIX = Buffer.from('{"payload":"', 'latin1');
const QUOTE = 0x22;

/**
 * The event and digest of a stored envelope, without parsing the envelope around the payload (its
 * signatures are of no use to a reader of stored events): half the work of decodeStoredEnvelope. Bytes not
 * in the canonical form (none are stored) take decodeStoredEnvelope's way, which gives the same answer.
 */
export function decodeStoredEvent(bytes: Uint8Array): StoredEvent {
  const buffer = bufferOf(bytes);
  const payload = storedPayload(buffer);
  if (payload === null) {
    const { event, digest } = decodeStoredEnvelope(bytes);
    return { event, digest };
  }
  return { event: JSON.parse(payload.toString('utf8')) as LedgerEvent, digest: hash('sha256', buffer, 'hex') };
}

/** The payload bytes of a stored envelope in its canonical form, cut from its first member; null for other bytes. */
export function storedPayload(bytes: Uint8Array): Buffer | null {
  const base64 = payloadBase64(bufferOf(bytes));
  return base64 === null ? null : Buffer.from(base64, 'base64');
}

/**
 * storedPayload's bytes written into `into` at `offset` (no buffer of their own: a rebuild gathers a batch's
 * payloads in one); returns how many were written, or null for bytes not in the canonical form. `into` must
 * have room for three quarters of the envelope's length.
 */
export function writeStoredPayload(bytes: Uint8Array, into: Buffer, offset: number): number | null {
  const base64 = payloadBase64(bufferOf(bytes));
  return base64 === null ? null : into.write(base64, offset, 'base64');
}

function payloadBase64(buffer: Buffer): string | null {
  const end = buffer.indexOf(QUOTE, PAYLOAD_PREFIX.length);
  if (end < 0 || buffer.compare(PAYLOAD_PREFIX, 0, PAYLOAD_PREFIX.length, 0, PAYLOAD_PREFIX.length) !== 0) return null;
  return buffer.toString('latin1', PAYLOAD_PREFIX.length, end);
}
