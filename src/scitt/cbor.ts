/**
 * CBOR (RFC 8949) for COSE, through cborg: deterministic encoding (RFC 8949 §4.2.1: shortest integers and
 * lengths, map keys in bytewise order of their encodings) and strict decoding (no indefinite lengths, no
 * `undefined`, no duplicate map keys, no over-long integers, no tag but COSE_Sign1's 18, nothing after the
 * item). Maps decode as `Map`, so integer labels stay integers. Pure: runs in a browser.
 */
import { decode, encode, rfc8949EncodeOptions, Tagged } from 'cborg';

export { Tagged };

/** The tag of a COSE_Sign1 message (RFC 9052 §4.2). */
export const COSE_SIGN1_TAG = 18;

export class CborError extends Error {
  override readonly name = 'CborError';
}

export function encodeCbor(value: unknown): Uint8Array {
  return encode(value, rfc8949EncodeOptions);
}

const DECODE_OPTIONS = {
  useMaps: true,
  strict: true,
  rejectDuplicateMapKeys: true,
  allowIndefinite: false,
  allowUndefined: false,
  tags: Tagged.preserve(COSE_SIGN1_TAG),
};

/** One CBOR item, refused (CborError) unless the bytes are exactly one well-formed, strictly encoded item. */
export function decodeCbor(bytes: Uint8Array, maxBytes: number): unknown {
  if (bytes.length === 0) throw new CborError('empty CBOR input');
  if (bytes.length > maxBytes) throw new CborError(`CBOR input of ${bytes.length} bytes exceeds the limit of ${maxBytes}`);
  try {
    return decode(bytes, DECODE_OPTIONS);
  } catch (error) {
    throw new CborError((error as Error).message.replace(/^CBOR decode error: /, ''));
  }
}

/** True when the bytes are the deterministic encoding of what they decode to (RFC 8949 §4.2.1). */
export function isDeterministic(bytes: Uint8Array, decoded: unknown): boolean {
  const again = encodeCbor(decoded);
  if (again.length !== bytes.length) return false;
  for (let i = 0; i < again.length; i++) if (again[i] !== bytes[i]) return false;
  return true;
}
