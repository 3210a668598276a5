/**
 * SCITT Signed and Transparent Statements (RFC 9943) as flashtrail issues them, one per shipped unit:
 *
 * Signed Statement: a COSE_Sign1 by the ledger acting as the manufacturer (issuer), a COSE hash envelope
 * (draft-ietf-cose-hash-envelope): the payload is the SHA-256 of the unit's provenance document.
 *   protected { 1 (alg): -8, 4 (kid): ledger key id, 15 (CWT claims): { 1 (iss): origin, 2 (sub): serial },
 *               258 (payload-hash-alg): -16 SHA-256, 259 (preimage content type), 260 (payload location) }
 *   unprotected {}   payload: 32 bytes
 *
 * Registration: the ledger appends a ScittStatementRegistered event naming the statement's SHA-256 (of its
 * registered form: the statement with an empty unprotected header) and carrying it. That event's envelope is
 * the logged entry; its receipt (receipt.ts) proves the registration.
 *
 * Transparent Statement: the registered form with, in its unprotected header, 394 (receipts) = [receipt] and
 * "flashtrail-entry" = the entry's bytes, so that a relying party can compute the leaf (RFC 9942 leaves the
 * leaf of a statement to the Transparency Service; this is ours, docs/format.md §13.4).
 */
import type { CryptoBackend } from '../crypto/backend.ts';
import { portableCrypto } from '../crypto/backend.ts';
import { fromBase64, fromUtf8, toHex } from '../crypto/encoding.ts';
import { verifyEnvelopeSignature, type DsseEnvelope } from '../crypto/dsse.ts';
import { ALG, CWT, CoseError, HEADER, decodeSign1, encodeSign1, signSign1, verifySign1, type CoseSign1, type HeaderMap } from './cose.ts';
import { ScittError } from './errors.ts';
import { checkKey, cwtClaims, verifierOf, verifyReceipt, type ScittKey, type ScittSigner, type VerifiedReceipt } from './receipt.ts';

/** The unprotected header label carrying the logged entry (a text label: no registry to collide with). */
export const ENTRY_LABEL = 'flashtrail-entry';
export const PROVENANCE_CONTENT_TYPE = 'application/vnd.flashtrail.provenance.v2+json';
/** The event type that registers a statement in the log. */
export const REGISTRATION_EVENT_TYPE = 'ScittStatementRegistered';

const fail = (code: ConstructorParameters<typeof ScittError>[0], message: string): never => {
  throw new ScittError(code, message);
};

export interface StatementInput {
  /** The manufacturer: the ledger's origin. */
  readonly issuer: string;
  /** The unit's serial. */
  readonly subject: string;
  /** SHA-256 of the provenance document (its JCS bytes). */
  readonly provenanceSha256: Uint8Array;
  /** Where the provenance document can be fetched, relative to the ledger's API. */
  readonly location: string;
}

export function signStatement(input: StatementInput, signer: ScittSigner): Uint8Array {
  if (input.provenanceSha256.length !== 32) throw new RangeError('the provenance digest is a 32-byte SHA-256');
  const protectedHeader: HeaderMap = new Map<number, unknown>([
    [HEADER.alg, signer.alg],
    [HEADER.kid, signer.kid],
    [HEADER.cwtClaims, new Map<number, unknown>([[CWT.iss, input.issuer], [CWT.sub, input.subject]])],
    [HEADER.payloadHashAlg, ALG.SHA256],
    [HEADER.preimageContentType, PROVENANCE_CONTENT_TYPE],
    [HEADER.payloadLocation, input.location],
  ]);
  return signSign1({ protectedHeader, payload: input.provenanceSha256 }, (tbs) => signer.sign(tbs));
}

function decodeStatement(bytes: Uint8Array): CoseSign1 {
  try {
    return decodeSign1(bytes, 'the statement');
  } catch (error) {
    if (error instanceof CoseError) return fail('STATEMENT_FORMAT_ERROR', error.message);
    throw error;
  }
}

/** The statement as registered: its unprotected header emptied, everything signed kept byte for byte. */
export function registeredForm(statement: Uint8Array): Uint8Array {
  const m = decodeStatement(statement);
  return encodeSign1({ protectedBytes: m.protectedBytes, unprotectedHeader: new Map(), payload: m.payload, signature: m.signature });
}

/** The Transparent Statement: the registered statement with its receipt and the logged entry attached. */
export function transparentStatement(statement: Uint8Array, receipt: Uint8Array, entry: Uint8Array): Uint8Array {
  const m = decodeStatement(registeredForm(statement));
  const unprotectedHeader: HeaderMap = new Map<number | string, unknown>([
    [HEADER.receipts, [receipt]],
    [ENTRY_LABEL, entry],
  ]);
  return encodeSign1({ protectedBytes: m.protectedBytes, unprotectedHeader, payload: m.payload, signature: m.signature });
}

export interface VerifiedStatement {
  readonly issuer: string;
  /** The serial. */
  readonly subject: string;
  /** SHA-256 of the unit's provenance document. */
  readonly provenanceSha256: string;
  readonly location: string;
  readonly receipt: VerifiedReceipt;
}

interface RegistrationEvent {
  readonly type: string;
  readonly source?: { kind?: string };
  readonly data?: { serial?: unknown; statementSha256?: unknown };
}

/**
 * Verifies a Transparent Statement in named steps: the statement's structure and issuer signature; the
 * entry it carries is the ledger's registration of exactly this statement for this subject; the receipt
 * proves that entry in the ledger's log.
 */
export function verifyTransparentStatement(bytes: Uint8Array, keys: { issuer: ScittKey; ledger: ScittKey }, crypto: CryptoBackend = portableCrypto): VerifiedStatement {
  const m = decodeStatement(bytes);
  const header = m.protectedHeader;
  const { iss, sub } = cwtClaims(header, 'the statement', 'STATEMENT_FORMAT_ERROR');
  if (header.get(HEADER.payloadHashAlg) !== ALG.SHA256) fail('STATEMENT_FORMAT_ERROR', 'the statement is not a SHA-256 hash envelope (protected header 258 = -16)');
  if (header.get(HEADER.preimageContentType) !== PROVENANCE_CONTENT_TYPE) fail('STATEMENT_FORMAT_ERROR', `the statement's preimage content type (259) is not ${PROVENANCE_CONTENT_TYPE}`);
  const location = header.get(HEADER.payloadLocation);
  if (typeof location !== 'string') fail('STATEMENT_FORMAT_ERROR', 'the statement has no payload location (260)');
  if (!m.payload || m.payload.length !== 32) return fail('STATEMENT_FORMAT_ERROR', 'the statement\'s payload is not a 32-byte SHA-256');
  checkKey(header, keys.issuer, 'the statement', 'STATEMENT_SIGNATURE_ERROR');
  if (!verifySign1(m, verifierOf(keys.issuer, crypto))) fail('STATEMENT_SIGNATURE_ERROR', `the issuer's signature over the statement for ${sub} does not verify`);

  const receipts = m.unprotectedHeader.get(HEADER.receipts);
  if (!Array.isArray(receipts) || receipts.length === 0 || !receipts.every((r) => r instanceof Uint8Array)) return fail('STATEMENT_FORMAT_ERROR', 'the statement has no receipts (unprotected header 394)');
  const entry = m.unprotectedHeader.get(ENTRY_LABEL);
  if (!(entry instanceof Uint8Array)) return fail('STATEMENT_FORMAT_ERROR', `the statement does not carry its logged entry (unprotected header "${ENTRY_LABEL}")`);

  const registered = registeredForm(bytes);
  const digest = toHex(crypto.sha256(registered));
  const event = registrationOf(entry, keys.ledger, crypto);
  if (event.type !== REGISTRATION_EVENT_TYPE || event.source?.kind !== 'ledger') fail('STATEMENT_NOT_REGISTERED', `the entry is a ${event.type} event, not the ledger's ${REGISTRATION_EVENT_TYPE}`);
  if (event.data?.statementSha256 !== digest) fail('STATEMENT_NOT_REGISTERED', `the entry registers statement ${String(event.data?.statementSha256).slice(0, 16)}…, not this one (${digest.slice(0, 16)}…)`);
  if (event.data?.serial !== sub) fail('STATEMENT_NOT_REGISTERED', `the entry registers a statement about ${String(event.data?.serial)}, not ${sub}`);

  // Every receipt must verify: an unverifiable one attached to a statement is a fault, not decoration.
  let first: VerifiedReceipt | null = null;
  for (const r of receipts as Uint8Array[]) {
    const verified = verifyReceipt(r, entry, keys.ledger, crypto);
    first ??= verified;
  }
  return { issuer: iss, subject: sub, provenanceSha256: toHex(m.payload), location: location as string, receipt: first as VerifiedReceipt };
}

/** The registration event an entry holds: a DSSE envelope (docs/format.md §2.1) signed by the ledger key. */
function registrationOf(entry: Uint8Array, ledger: ScittKey, crypto: CryptoBackend): RegistrationEvent {
  let envelope: DsseEnvelope;
  let event: RegistrationEvent;
  try {
    envelope = JSON.parse(fromUtf8(entry)) as DsseEnvelope;
    event = JSON.parse(fromUtf8(fromBase64(envelope.payload))) as RegistrationEvent;
  } catch {
    return fail('STATEMENT_NOT_REGISTERED', 'the entry is not a flashtrail event envelope');
  }
  if (typeof event !== 'object' || event === null || typeof event.type !== 'string') return fail('STATEMENT_NOT_REGISTERED', 'the entry\'s payload is not an event');
  const signatures = Array.isArray(envelope.signatures) ? envelope.signatures : [];
  if (!signatures.some((s) => s.keyid === toHex(ledger.kid)) || !verifyEnvelopeSignature(envelope, ledger.publicKey, crypto)) fail('STATEMENT_NOT_REGISTERED', 'the entry is not signed by the ledger key');
  return event;
}

