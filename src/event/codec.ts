/**
 * From bytes to a ledger event, and back. Two decoders, named for what their input is:
 *
 * - `decodeUntrustedEnvelope`: anything from outside (an API body, an envelope inside a document handed
 *   to a verifier). It enforces every rule the ledger has on the bytes, so the ledger and every verifier
 *   accept exactly the same envelopes: the DSSE shape with our payload type and exactly one signature,
 *   canonical base64, strict UTF-8 without a BOM, bounded nesting, I-JSON strings, an RFC 8785 canonical
 *   payload (which also refuses duplicate members), and the event schema. Each signed event therefore has
 *   exactly one byte form.
 * - `decodeTrustedEnvelope`: bytes this ledger stored after the untrusted decoder accepted them; it parses.
 *
 * Pure. Signatures are checked by the caller, against the key the caller resolves.
 */
import { DsseEnvelopeSchema, EVENT_PAYLOAD_TYPE, LedgerEventSchema, type LedgerEvent } from '../../schemas/index.ts';
import type { DsseEnvelope } from '../crypto/dsse.ts';
import { envelopeBytes, signEnvelope } from '../crypto/dsse.ts';
import { CanonicalizationError, canonicalBytes, canonicalize, DEFAULT_MAX_DEPTH, jsonNestingDepth } from '../crypto/jcs.ts';
import { fromBase64, fromUtf8 } from '../crypto/encoding.ts';
import { sha256Hex } from '../crypto/sha256.ts';
import { portableCrypto, type CryptoBackend } from '../crypto/backend.ts';
import type { Signer } from '../crypto/ed25519.ts';

export interface DecodedEvent {
  readonly envelope: DsseEnvelope;
  readonly event: LedgerEvent;
  /** RFC 8785 bytes of the envelope: what is stored, chained and logged. */
  readonly bytes: Uint8Array;
  /** SHA-256 of `bytes`, hex: the `prev` of the stream's next event. */
  readonly digest: string;
  /** The payload's bytes (the DSSE body, what the signature covers), decoded once for the signature check. */
  readonly payloadBytes?: Uint8Array;
}

export type EnvelopeProblemCode = 'ENVELOPE_INVALID' | 'PAYLOAD_NOT_CANONICAL' | 'SCHEMA_INVALID';

export interface SchemaIssue {
  /** Dotted path of the offending member, e.g. `data.fuses.0.value`. */
  readonly path: string;
  readonly message: string;
}

export class EnvelopeDecodeError extends Error {
  override readonly name = 'EnvelopeDecodeError';
  constructor(
    readonly code: EnvelopeProblemCode,
    message: string,
    readonly issues: readonly SchemaIssue[] = [],
  ) {
    super(message);
  }
}

const issuesOf = (issues: readonly { path: readonly PropertyKey[]; message: string }[]): SchemaIssue[] =>
  issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message }));

/** The first issue as one readable line: `data.serial: letters, digits … (got …)`. */
const describe = (issues: readonly SchemaIssue[]) => (issues[0] ? `${issues[0].path || '(root)'}: ${issues[0].message}` : 'invalid');

export function decodeUntrustedEnvelope(input: unknown, crypto: CryptoBackend = portableCrypto): DecodedEvent {
  const parsed = DsseEnvelopeSchema.safeParse(input);
  if (!parsed.success) {
    const issues = issuesOf(parsed.error.issues);
    throw new EnvelopeDecodeError('ENVELOPE_INVALID', `not a DSSE envelope of ${EVENT_PAYLOAD_TYPE} with one signature: ${describe(issues)}`, issues);
  }
  const envelope = parsed.data as DsseEnvelope;
  let payloadText: string;
  let payloadBytes: Uint8Array;
  try {
    payloadBytes = fromBase64(envelope.payload);
    payloadText = fromUtf8(payloadBytes);
    if (fromBase64((envelope.signatures[0] as { sig: string }).sig).length !== 64) throw new Error('the signature is not 64 bytes');
  } catch (error) {
    throw new EnvelopeDecodeError('ENVELOPE_INVALID', `payload or signature is not canonical base64 of UTF-8: ${(error as Error).message}`);
  }
  if (jsonNestingDepth(payloadText) > DEFAULT_MAX_DEPTH) {
    throw new EnvelopeDecodeError('ENVELOPE_INVALID', `the payload is nested deeper than ${DEFAULT_MAX_DEPTH} levels`);
  }
  let payloadJson: unknown;
  try {
    payloadJson = JSON.parse(payloadText);
  } catch (error) {
    throw new EnvelopeDecodeError('ENVELOPE_INVALID', `the payload is not JSON: ${(error as Error).message}`);
  }
  let canonical: string;
  try {
    canonical = canonicalize(payloadJson);
  } catch (error) {
    if (error instanceof CanonicalizationError) throw new EnvelopeDecodeError('PAYLOAD_NOT_CANONICAL', `the payload has no RFC 8785 form: ${error.message}`);
    throw error;
  }
  if (canonical !== payloadText) {
    throw new EnvelopeDecodeError('PAYLOAD_NOT_CANONICAL', 'the payload must be RFC 8785 canonical JSON (sorted members, no whitespace, no duplicate members, shortest numbers)');
  }
  const event = LedgerEventSchema.safeParse(payloadJson);
  if (!event.success) {
    const issues = issuesOf(event.error.issues);
    throw new EnvelopeDecodeError('SCHEMA_INVALID', describe(issues), issues);
  }
  const bytes = envelopeBytes(envelope);
  return { envelope, event: event.data, bytes, digest: sha256Hex(bytes, crypto), payloadBytes };
}

/**
 * Stored envelopes were fully checked on the way in; reading them back only parses. The digest is hashed when
 * first read, not here: most readers (projections, exports, the Merkle log's neighbours) never read it, and a
 * rebuild or an export reads millions. It is an own enumerable property, so a spread or JSON copies it.
 */
export function decodeTrustedEnvelope(bytes: Uint8Array, crypto: CryptoBackend = portableCrypto): DecodedEvent {
  const envelope = JSON.parse(fromUtf8(bytes)) as DsseEnvelope;
  const event = JSON.parse(fromUtf8(fromBase64(envelope.payload))) as LedgerEvent;
  let digest: string | undefined;
  return Object.defineProperty({ envelope, event, bytes } as Omit<DecodedEvent, 'digest'>, 'digest', {
    enumerable: true,
    get: () => (digest ??= sha256Hex(bytes, crypto)),
  }) as DecodedEvent;
}

export function signEvent(event: LedgerEvent, signer: Signer): DsseEnvelope {
  return signEnvelope(EVENT_PAYLOAD_TYPE, canonicalBytes(event), signer);
}
