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

const text = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');

export function decodeStoredEnvelope(bytes: Uint8Array): DecodedEvent {
  const envelope = JSON.parse(text(bytes)) as DsseEnvelope;
  const event = JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')) as LedgerEvent;
  const digest = hash('sha256', bytes, 'hex');
  return { envelope, event, bytes, digest };
}
