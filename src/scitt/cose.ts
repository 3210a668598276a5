/**
 * COSE_Sign1 (RFC 9052 §4.2, §4.4) built on the CBOR of cbor.ts. A message is
 *   #6.18([protected: bstr .cbor header_map / h'', unprotected: header_map, payload: bstr / nil, signature: bstr])
 * and its signature is over Sig_structure = ["Signature1", protected, external_aad, payload], where a
 * detached payload (nil in the message) is supplied by the verifier. Verification always uses the protected
 * bytes as received, never a re-encoding. The signing and verifying functions come in as arguments, so this
 * module knows no algorithm: the callers pin one per key (RFC 9052 §8: `alg` MUST match the key).
 */
import { COSE_SIGN1_TAG, CborError, Tagged, decodeCbor, encodeCbor, isDeterministic } from './cbor.ts';

export type HeaderLabel = number | string;
export type HeaderMap = Map<HeaderLabel, unknown>;

/** COSE header parameters (IANA "COSE Header Parameters"). */
export const HEADER = {
  alg: 1,
  contentType: 3,
  kid: 4,
  /** RFC 9597 CWT Claims in COSE headers. */
  cwtClaims: 15,
  /** RFC 9942 §2: receipts, verifiable data structure, verifiable data structure proofs. */
  receipts: 394,
  vds: 395,
  vdp: 396,
  /** draft-ietf-cose-hash-envelope: the payload is a hash of a preimage. */
  payloadHashAlg: 258,
  preimageContentType: 259,
  payloadLocation: 260,
} as const;

/** COSE algorithms (IANA "COSE Algorithms"). */
export const ALG = { EdDSA: -8, SHA256: -16 } as const;

/** CWT claims (RFC 8392 §3.1). */
export const CWT = { iss: 1, sub: 2, iat: 6 } as const;

/** Largest COSE message accepted: receipts and statements here are a few kilobytes. */
export const MAX_COSE_BYTES = 64 * 1024;

export class CoseError extends Error {
  override readonly name = 'CoseError';
}

export interface CoseSign1 {
  /** The protected header as received: what the signature covers. */
  readonly protectedBytes: Uint8Array;
  readonly protectedHeader: HeaderMap;
  readonly unprotectedHeader: HeaderMap;
  /** null when detached. */
  readonly payload: Uint8Array | null;
  readonly signature: Uint8Array;
}

const EMPTY = new Uint8Array(0);

/** The bytes a COSE_Sign1 signature is made over (RFC 9052 §4.4). */
export function sigStructure(protectedBytes: Uint8Array, payload: Uint8Array, externalAad: Uint8Array = EMPTY): Uint8Array {
  return encodeCbor(['Signature1', protectedBytes, externalAad, payload]);
}

export interface Sign1Input {
  readonly protectedHeader: HeaderMap;
  readonly unprotectedHeader?: HeaderMap;
  readonly payload: Uint8Array;
  /** Leave the payload out of the message (the verifier supplies it). */
  readonly detached?: boolean;
}

/** Signs and encodes a tagged COSE_Sign1; the protected header is deterministic CBOR. */
export function signSign1(input: Sign1Input, sign: (toBeSigned: Uint8Array) => Uint8Array): Uint8Array {
  const protectedBytes = input.protectedHeader.size === 0 ? EMPTY : encodeCbor(input.protectedHeader);
  const signature = sign(sigStructure(protectedBytes, input.payload));
  return encodeSign1({ protectedBytes, unprotectedHeader: input.unprotectedHeader ?? new Map(), payload: input.detached ? null : input.payload, signature });
}

/** Encodes a COSE_Sign1 from its parts, keeping the protected bytes as they are. */
export function encodeSign1(parts: { protectedBytes: Uint8Array; unprotectedHeader: HeaderMap; payload: Uint8Array | null; signature: Uint8Array }): Uint8Array {
  return encodeCbor(new Tagged(COSE_SIGN1_TAG, [parts.protectedBytes, parts.unprotectedHeader, parts.payload, parts.signature]));
}

const isHeaderMap = (value: unknown): value is HeaderMap => value instanceof Map && [...value.keys()].every((k) => (typeof k === 'number' && Number.isSafeInteger(k)) || typeof k === 'string');

/**
 * Decodes a tagged COSE_Sign1 (an untagged one is refused: flashtrail always tags). The protected header
 * must be deterministic CBOR, as every one flashtrail signs is: one byte form per header.
 */
export function decodeSign1(bytes: Uint8Array, what = 'COSE_Sign1'): CoseSign1 {
  let item: unknown;
  try {
    item = decodeCbor(bytes, MAX_COSE_BYTES);
  } catch (error) {
    throw new CoseError(`${what} is not CBOR: ${(error as Error).message}`);
  }
  if (!(item instanceof Tagged) || item.tag !== COSE_SIGN1_TAG) throw new CoseError(`${what} is not a tagged COSE_Sign1 (tag 18)`);
  const parts = item.value;
  if (!Array.isArray(parts) || parts.length !== 4) throw new CoseError(`${what} is not an array of four items`);
  const [protectedBytes, unprotectedHeader, payload, signature] = parts as unknown[];
  if (!(protectedBytes instanceof Uint8Array)) throw new CoseError(`${what}: the protected header is not a byte string`);
  let protectedHeader: unknown = new Map();
  if (protectedBytes.length > 0) {
    try {
      protectedHeader = decodeCbor(protectedBytes, MAX_COSE_BYTES);
    } catch (error) {
      throw new CoseError(`${what}: the protected header is not CBOR: ${(error as Error).message}`);
    }
    if (!isHeaderMap(protectedHeader) || protectedHeader.size === 0) throw new CoseError(`${what}: the protected header is not a non-empty map with integer or text labels (an empty one is h'')`);
    if (!isDeterministic(protectedBytes, protectedHeader)) throw new CoseError(`${what}: the protected header is not deterministically encoded (RFC 8949 §4.2.1)`);
  }
  if (!isHeaderMap(unprotectedHeader)) throw new CoseError(`${what}: the unprotected header is not a map with integer or text labels`);
  if (!isHeaderMap(protectedHeader)) throw new CoseError(`${what}: the protected header is not a map`);
  for (const label of unprotectedHeader.keys()) {
    if (protectedHeader.has(label)) throw new CoseError(`${what}: header parameter ${String(label)} is both protected and unprotected (RFC 9052 §3)`);
  }
  if (payload !== null && !(payload instanceof Uint8Array)) throw new CoseError(`${what}: the payload is neither a byte string nor nil`);
  if (!(signature instanceof Uint8Array)) throw new CoseError(`${what}: the signature is not a byte string`);
  return { protectedBytes, protectedHeader, unprotectedHeader, payload, signature };
}

/** Verifies a decoded message's signature with one pinned key's verify function; `payload` for a detached one. */
export function verifySign1(message: CoseSign1, verify: (signature: Uint8Array, toBeSigned: Uint8Array) => boolean, detachedPayload?: Uint8Array): boolean {
  const payload = message.payload ?? detachedPayload;
  if (!payload) return false;
  if (message.payload && detachedPayload) return false; // one payload, not two to choose from
  return verify(message.signature, sigStructure(message.protectedBytes, payload));
}

export { CborError };
