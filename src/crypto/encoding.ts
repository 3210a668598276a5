/**
 * Byte encodings used on the wire. Strict: every decoder refuses anything but the canonical form.
 * Runs in a browser; on node, Buffer does the work several times faster, with the same results.
 */

interface BufferLike {
  readonly buffer: ArrayBufferLike;
  readonly byteOffset: number;
  readonly byteLength: number;
  toString(encoding: 'hex' | 'base64'): string;
}
const NodeBuffer = (globalThis as { Buffer?: { from(data: string | ArrayBufferLike, encodingOrOffset?: string | number, length?: number): BufferLike } }).Buffer;
const asBuffer = (bytes: Uint8Array) => (NodeBuffer as NonNullable<typeof NodeBuffer>).from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

const HEX_RE = /^(?:[0-9a-f]{2})*$/;
const B64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const HEX_DIGITS = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

export function toHex(bytes: Uint8Array): string {
  if (NodeBuffer) return asBuffer(bytes).toString('hex');
  let out = '';
  for (const b of bytes) out += HEX_DIGITS[b];
  return out;
}

export function fromHex(hex: string): Uint8Array {
  if (!HEX_RE.test(hex)) throw new TypeError('expected lowercase hex with an even number of digits');
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

export function toBase64(bytes: Uint8Array): string {
  if (NodeBuffer) return asBuffer(bytes).toString('base64');
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

/** Standard base64 with padding, and only the canonical encoding (no stray bits in the last symbol). */
export function fromBase64(text: string): Uint8Array {
  if (NodeBuffer) {
    // Buffer skips what is not base64; re-encoding and comparing refuses all of that, and any other form.
    const decoded = NodeBuffer.from(text, 'base64');
    if (decoded.toString('base64') !== text) throw new TypeError('expected canonical standard base64 with padding');
    return new Uint8Array(decoded.buffer, decoded.byteOffset, decoded.byteLength);
  }
  if (!B64_RE.test(text)) throw new TypeError('expected standard base64 with padding');
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  if (toBase64(bytes) !== text) throw new TypeError('non-canonical base64');
  return bytes;
}

export function utf8(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

const strictDecoder = new TextDecoder('utf-8', { fatal: true });
export function fromUtf8(bytes: Uint8Array): string {
  return strictDecoder.decode(bytes);
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] as number) ^ (b[i] as number);
  return diff === 0;
}
