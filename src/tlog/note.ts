/**
 * C2SP signed notes (https://c2sp.org/signed-note) with Ed25519 signatures (type 0x01).
 * Pure: no Node-only APIs.
 */
import { sha256 } from '../crypto/sha256.ts';
import { concatBytes, fromBase64, toBase64, toHex, utf8, fromHex } from '../crypto/encoding.ts';
import { sign } from '../crypto/ed25519.ts';
import { portableCrypto, type CryptoBackend } from '../crypto/backend.ts';

const ED25519 = 0x01;

export interface NoteKey {
  readonly name: string;
  /** 4-byte key id as 8 lowercase hex digits. */
  readonly id: string;
  readonly publicKey: Uint8Array;
}

export class NoteError extends Error {
  override readonly name = 'NoteError';
}

export function noteKeyId(name: string, publicKey: Uint8Array): string {
  return toHex(sha256(concatBytes(utf8(name), Uint8Array.of(0x0a, ED25519), publicKey)).subarray(0, 4));
}

function checkName(name: string): void {
  if (name.length === 0 || /[\s+]/u.test(name)) throw new NoteError(`key name ${JSON.stringify(name)} must be non-empty without spaces or '+'`);
}

/** `<name>+<hex key id>+<base64(0x01 || public key)>`, as golang.org/x/mod/sumdb/note prints it. */
export function formatVerifierKey(name: string, publicKey: Uint8Array): string {
  checkName(name);
  return `${name}+${noteKeyId(name, publicKey)}+${toBase64(concatBytes(Uint8Array.of(ED25519), publicKey))}`;
}

export function parseVerifierKey(text: string): NoteKey {
  // The base64 key may itself contain '+': split at the first two only.
  const m = /^([^+]+)\+([^+]+)\+(.+)$/u.exec(text.trim());
  if (!m) throw new NoteError('a verifier key is <name>+<hex key id>+<base64 key>');
  const [, name, id, b64] = m as unknown as [string, string, string, string];
  checkName(name);
  let raw: Uint8Array;
  try {
    raw = fromBase64(b64);
  } catch {
    throw new NoteError('verifier key: the key is not base64');
  }
  if (raw.length !== 33 || raw[0] !== ED25519) throw new NoteError('verifier key: only Ed25519 keys (type 0x01) are supported');
  const publicKey = raw.subarray(1);
  if (!/^[0-9a-f]{8}$/.test(id) || noteKeyId(name, publicKey) !== id) throw new NoteError('verifier key: the key id does not match the name and key');
  return { name, id, publicKey };
}

export function signNote(text: string, name: string, secretKey: Uint8Array, publicKey: Uint8Array): string {
  checkName(name);
  if (!text.endsWith('\n')) throw new NoteError('note text must end with a newline');
  const sig = sign(utf8(text), secretKey);
  return `${text}\n— ${name} ${toBase64(concatBytes(fromHex(noteKeyId(name, publicKey)), sig))}\n`;
}

export interface NoteSignature {
  readonly name: string;
  readonly id: string;
  readonly signature: Uint8Array;
}

export function parseNote(note: string): { text: string; signatures: NoteSignature[] } {
  // Control characters other than newline are forbidden by the spec.
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0009\u000b-\u001f]/.test(note)) throw new NoteError('note contains control characters');
  const split = note.lastIndexOf('\n\n');
  if (split < 0 || !note.endsWith('\n')) throw new NoteError('malformed note: no blank line before the signatures');
  const text = note.slice(0, split + 1);
  const lines = note.slice(split + 2, -1).split('\n');
  if (lines.length > 100) throw new NoteError('note has too many signatures');
  const signatures = lines.map((line) => {
    const m = /^\u2014 (\S+) ([A-Za-z0-9+/=]+)$/u.exec(line);
    if (!m) throw new NoteError(`malformed signature line ${JSON.stringify(line)}`);
    let raw: Uint8Array;
    try {
      raw = fromBase64(m[2] as string);
    } catch {
      throw new NoteError('signature is not base64');
    }
    if (raw.length < 5) throw new NoteError('signature too short');
    return { name: m[1] as string, id: toHex(raw.subarray(0, 4)), signature: raw.subarray(4) };
  });
  if (signatures.length === 0) throw new NoteError('note has no signatures');
  return { text, signatures };
}

/**
 * Verifies a note against known keys. Signatures by unknown keys are ignored (room for witness
 * cosignatures); a failing signature by a known key rejects the note; at least one must verify.
 */
export function verifyNote(note: string, keys: readonly NoteKey[], crypto: CryptoBackend = portableCrypto): { text: string; verifiedBy: NoteKey[] } {
  const { text, signatures } = parseNote(note);
  const verifiedBy: NoteKey[] = [];
  for (const s of signatures) {
    const key = keys.find((k) => k.name === s.name && k.id === s.id);
    if (!key) continue;
    if (!crypto.verifyEd25519(s.signature, utf8(text), key.publicKey)) throw new NoteError(`signature by ${key.name} does not verify`);
    verifiedBy.push(key);
  }
  if (verifiedBy.length === 0) throw new NoteError('no signature by a trusted key');
  return { text, verifiedBy };
}
