/**
 * Byte encodings used on the wire. Strict: every decoder refuses anything but the canonical form.
 * Pure JS with lookup tables, identical on every platform (no Buffer detection).
 */

const HEX_DIGITS = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
const HEX_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < 16; i++) HEX_VALUE['0123456789abcdef'.charCodeAt(i)] = i;

export function toHex(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i++) out += HEX_DIGITS[bytes[i] as number];
  return out;
}

/** Lowercase hex with an even number of digits, nothing else. */
export function fromHex(hex: string): Uint8Array {
  if (hex.length % 2 !== 0) throw new TypeError('expected lowercase hex with an even number of digits');
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) {
    const hi = hexValue(hex.charCodeAt(2 * i));
    const lo = hexValue(hex.charCodeAt(2 * i + 1));
    if (hi < 0 || lo < 0) throw new TypeError('expected lowercase hex with an even number of digits');
    out[i] = (hi << 4) | lo;
  }
  return out;
}

const hexValue = (c: number) => (c < 128 ? (HEX_VALUE[c] as number) : -1);

const B64_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < 64; i++) B64_VALUE[B64_ALPHABET.charCodeAt(i)] = i;

export function toBase64(bytes: Uint8Array): string {
  let out = '';
  const n = bytes.length;
  let i = 0;
  for (; i + 2 < n; i += 3) {
    const v = ((bytes[i] as number) << 16) | ((bytes[i + 1] as number) << 8) | (bytes[i + 2] as number);
    out += B64_ALPHABET[v >> 18]! + B64_ALPHABET[(v >> 12) & 63]! + B64_ALPHABET[(v >> 6) & 63]! + B64_ALPHABET[v & 63]!;
  }
  if (n - i === 1) {
    const v = (bytes[i] as number) << 16;
    out += B64_ALPHABET[v >> 18]! + B64_ALPHABET[(v >> 12) & 63]! + '==';
  } else if (n - i === 2) {
    const v = ((bytes[i] as number) << 16) | ((bytes[i + 1] as number) << 8);
    out += B64_ALPHABET[v >> 18]! + B64_ALPHABET[(v >> 12) & 63]! + B64_ALPHABET[(v >> 6) & 63]! + '=';
  }
  return out;
}

const b64Value = (c: number) => (c < 128 ? (B64_VALUE[c] as number) : -1);

/** Standard base64 with padding, and only the canonical encoding (no stray bits in the last symbol). */
export function fromBase64(text: string): Uint8Array {
  const fail = (): never => {
    throw new TypeError('expected canonical standard base64 with padding');
  };
  if (text.length % 4 !== 0) fail();
  const padding = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  const out = new Uint8Array((text.length / 4) * 3 - padding);
  let o = 0;
  for (let i = 0; i < text.length; i += 4) {
    const last = i + 4 === text.length;
    const a = b64Value(text.charCodeAt(i));
    const b = b64Value(text.charCodeAt(i + 1));
    const c = last && padding === 2 ? 0 : b64Value(text.charCodeAt(i + 2));
    const d = last && padding >= 1 ? 0 : b64Value(text.charCodeAt(i + 3));
    if (a < 0 || b < 0 || c < 0 || d < 0) fail();
    const v = (a << 18) | (b << 12) | (c << 6) | d;
    out[o++] = v >> 16;
    if (last && padding === 2) {
      if ((v & 0xffff) !== 0) fail(); // stray bits: not the canonical encoding
    } else {
      out[o++] = (v >> 8) & 255;
      if (last && padding === 1) {
        if ((v & 0xff) !== 0) fail();
      } else out[o++] = v & 255;
    }
  }
  return out;
}

const encoder = new TextEncoder();
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

// ignoreBOM keeps a leading U+FEFF in the text instead of silently dropping it: a BOM is then refused by
// JSON.parse, so one payload cannot have a second byte form with a BOM in front.
const strictDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
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
