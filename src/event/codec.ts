/** From untrusted bytes to a verified-shape event, and back. Pure; signature checks live in ledger.ts. */
import { DsseEnvelopeSchema, EVENT_PAYLOAD_TYPE, LedgerEventSchema, type LedgerEvent } from '../../schemas/index.ts';
import type { DsseEnvelope } from '../crypto/dsse.ts';
import { envelopeBytes, signEnvelope } from '../crypto/dsse.ts';
import { canonicalBytes, canonicalize } from '../crypto/jcs.ts';
import { fromBase64, fromUtf8 } from '../crypto/encoding.ts';
import { LedgerError } from '../write/errors.ts';
import { sha256Hex } from '../crypto/sha256.ts';
import { portableCrypto, type CryptoBackend } from '../crypto/backend.ts';

export interface DecodedEvent {
  readonly envelope: DsseEnvelope;
  readonly event: LedgerEvent;
  /** RFC 8785 bytes of the envelope: what is stored, chained and logged. */
  readonly bytes: Uint8Array;
  readonly digest: string;
}

export function decodeEnvelope(input: unknown, index = 0, crypto: CryptoBackend = portableCrypto): DecodedEvent {
  const parsed = DsseEnvelopeSchema.safeParse(input);
  if (!parsed.success) {
    throw new LedgerError('ENVELOPE_INVALID', `event ${index}: not a DSSE envelope of ${EVENT_PAYLOAD_TYPE}`, {
      index,
      issues: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
    });
  }
  const envelope = parsed.data as DsseEnvelope;
  let payloadText: string;
  let payloadJson: unknown;
  try {
    payloadText = fromUtf8(fromBase64(envelope.payload));
    fromBase64((envelope.signatures[0] as { sig: string }).sig);
    payloadJson = JSON.parse(payloadText);
  } catch (error) {
    throw new LedgerError('ENVELOPE_INVALID', `event ${index}: payload or signature is not valid base64 JSON: ${(error as Error).message}`, { index });
  }
  if (canonicalize(payloadJson) !== payloadText) {
    throw new LedgerError('PAYLOAD_NOT_CANONICAL', `event ${index}: the payload must be RFC 8785 canonical JSON`, { index });
  }
  const event = LedgerEventSchema.safeParse(payloadJson);
  if (!event.success) {
    throw new LedgerError('SCHEMA_INVALID', `event ${index}: ${event.error.issues[0]?.message ?? 'invalid event'}`, {
      index,
      issues: event.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
    });
  }
  const bytes = envelopeBytes(envelope);
  return { envelope, event: event.data, bytes, digest: sha256Hex(bytes, crypto) };
}

/** Stored envelopes were fully checked on the way in; reading them back only parses. */
export function decodeStored(bytes: Uint8Array, crypto: CryptoBackend = portableCrypto): DecodedEvent {
  const envelope = JSON.parse(fromUtf8(bytes)) as DsseEnvelope;
  const event = JSON.parse(fromUtf8(fromBase64(envelope.payload))) as LedgerEvent;
  return { envelope, event, bytes, digest: sha256Hex(bytes, crypto) };
}

export function signEvent(event: LedgerEvent, signer: { keyId: string; secretKey: Uint8Array }): DsseEnvelope {
  return signEnvelope(EVENT_PAYLOAD_TYPE, canonicalBytes(event), signer);
}
