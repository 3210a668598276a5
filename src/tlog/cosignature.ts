/**
 * C2SP tlog-cosignature v1 (https://c2sp.org/tlog-cosignature), the Ed25519 `cosignature/v1` type (0x04):
 * a witness's statement that, at `timestamp`, the checkpoint is the largest consistent tree it has seen of
 * that log. Pure: no Node-only APIs.
 *
 *   key ID          = SHA-256(<name> || 0x0A || 0x04 || 32-byte public key)[:4]
 *   signed message  = "cosignature/v1\n" || "time " <decimal timestamp> "\n" || <the whole checkpoint body>
 *   signature line  = "— " <name> " " base64(key ID || u64 BE timestamp || 64-byte Ed25519 signature) "\n"
 *
 * The body includes extension lines, if any (the spec says the message covers them); we never emit any.
 * ML-DSA-44 (type 0x06, tlog-cosignature v1.1) is the spec's recommendation for new deployments and the
 * right one for evidence kept past 2030 (our witnesses do not make them yet: the ledger's own ML-DSA-44 checkpoint
 * line, src/tlog/ml-dsa-note.ts, carries the post-quantum signature); a verifier here ignores 0x06 lines as unknown keys, and
 * a policy names the type it expects for each witness, so a second type slots in beside this one.
 */
import { sha256 } from '../crypto/sha256.ts';
import { concatBytes, fromBase64, fromHex, toBase64, toHex, utf8 } from '../crypto/encoding.ts';
import { sign } from '../crypto/ed25519.ts';
import { portableCrypto, type CryptoBackend } from '../crypto/backend.ts';
import { NoteError, parseNote } from './note.ts';

/** The signed-note signature type of an Ed25519 checkpoint cosignature. */
export const COSIGNATURE_V1_ED25519 = 0x04;
const MESSAGE_HEADER = 'cosignature/v1\n';
/** The spec: the timestamp MUST NOT exceed 2^63 - 1. JavaScript numbers are exact to 2^53, well past year 285 000. */
const MAX_TIMESTAMP = Number.MAX_SAFE_INTEGER;

export interface CosignerKey {
  readonly name: string;
  /** 4-byte key id as 8 lowercase hex digits. */
  readonly id: string;
  readonly publicKey: Uint8Array;
}

export interface Cosignature {
  readonly name: string;
  readonly id: string;
  /** POSIX seconds at which the witness cosigned. */
  readonly timestamp: number;
}

export class CosignatureError extends Error {
  override readonly name = 'CosignatureError';
}

function checkName(name: string): void {
  // Signed-note key names: non-empty, no Unicode spaces, no '+'.
  if (name.length === 0 || /[\s+]/u.test(name)) throw new CosignatureError(`cosigner name ${JSON.stringify(name)} must be non-empty without spaces or '+'`);
}

export function cosignerKeyId(name: string, publicKey: Uint8Array): string {
  return toHex(sha256(concatBytes(utf8(name), Uint8Array.of(0x0a, COSIGNATURE_V1_ED25519), publicKey)).subarray(0, 4));
}

/** `<name>+<hex key id>+<base64(0x04 || public key)>`: the cosigner's verifier key. */
export function formatCosignerKey(name: string, publicKey: Uint8Array): string {
  checkName(name);
  if (publicKey.length !== 32) throw new CosignatureError('an Ed25519 public key is 32 bytes');
  return `${name}+${cosignerKeyId(name, publicKey)}+${toBase64(concatBytes(Uint8Array.of(COSIGNATURE_V1_ED25519), publicKey))}`;
}

/**
 * A cosigner verifier key, its key id checked (some implementations recompute it and ignore the field, so a
 * mistyped vkey would silently name another key; we refuse it).
 */
export function parseCosignerKey(text: string): CosignerKey {
  const m = /^([^+]+)\+([^+]+)\+(.+)$/u.exec(text.trim());
  if (!m) throw new CosignatureError('a cosigner key is <name>+<hex key id>+<base64 key>');
  const [, name, id, b64] = m as unknown as [string, string, string, string];
  checkName(name);
  let raw: Uint8Array;
  try {
    raw = fromBase64(b64);
  } catch {
    throw new CosignatureError(`cosigner key ${name}: the key is not base64`);
  }
  if (raw.length !== 33 || raw[0] !== COSIGNATURE_V1_ED25519) {
    throw new CosignatureError(`cosigner key ${name}: only Ed25519 cosignature/v1 keys (type 0x04, 33 bytes) are supported${raw[0] === 0x01 ? '; this is a type 0x01 note key, not a witness cosigning key' : ''}`);
  }
  const publicKey = raw.subarray(1);
  if (!/^[0-9a-f]{8}$/.test(id) || cosignerKeyId(name, publicKey) !== id) throw new CosignatureError(`cosigner key ${name}: the key id does not match the name and key`);
  return { name, id, publicKey };
}

/** The exact bytes a cosignature/v1 signs: the two header lines, then the checkpoint body as it is. */
export function cosignatureMessage(checkpointBody: string, timestamp: number): Uint8Array {
  if (!Number.isSafeInteger(timestamp) || timestamp < 0 || timestamp > MAX_TIMESTAMP) throw new CosignatureError(`cosignature timestamp ${timestamp} is not a whole number of seconds from 0`);
  if (!checkpointBody.endsWith('\n')) throw new CosignatureError('a checkpoint body ends with a newline');
  return utf8(`${MESSAGE_HEADER}time ${timestamp}\n${checkpointBody}`);
}

function u64be(n: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(n));
  return out;
}

/** One signature line (with its newline) that a witness appends to the checkpoint note. */
export function cosignCheckpoint(checkpointBody: string, name: string, secretKey: Uint8Array, publicKey: Uint8Array, timestamp: number): string {
  checkName(name);
  const signature = sign(cosignatureMessage(checkpointBody, timestamp), secretKey);
  return `— ${name} ${toBase64(concatBytes(fromHex(cosignerKeyId(name, publicKey)), u64be(timestamp), signature))}\n`;
}

/**
 * The cosignatures by known witnesses on a checkpoint note, each verified. A line is a witness's when both
 * name and key id match (signed-note: unknown keys are ignored, the ledger's own line among them); a
 * matching line that does not verify rejects the note, as does a timestamp too large.
 */
export function verifyCosignatures(note: string, witnesses: readonly CosignerKey[], crypto: CryptoBackend = portableCrypto): Cosignature[] {
  let parsed;
  try {
    parsed = parseNote(note);
  } catch (error) {
    if (error instanceof NoteError) throw new CosignatureError(error.message);
    throw error;
  }
  const found: Cosignature[] = [];
  for (const s of parsed.signatures) {
    const key = witnesses.find((w) => w.name === s.name && w.id === s.id);
    if (!key) continue;
    if (s.signature.length !== 8 + 64) throw new CosignatureError(`cosignature by ${key.name} is ${s.signature.length + 4} bytes, not the 76 of cosignature/v1`);
    const timestamp = new DataView(s.signature.buffer, s.signature.byteOffset, 8).getBigUint64(0);
    if (timestamp > BigInt(MAX_TIMESTAMP)) throw new CosignatureError(`cosignature by ${key.name} has timestamp ${timestamp}, beyond what a verifier accepts`);
    const t = Number(timestamp);
    if (!crypto.verifyEd25519(s.signature.subarray(8), cosignatureMessage(parsed.text, t), key.publicKey)) throw new CosignatureError(`cosignature by ${key.name} does not verify`);
    // Two lines by one witness count once (a note may be re-cosigned as it passes through several hands).
    if (!found.some((f) => f.name === key.name && f.id === key.id)) found.push({ name: key.name, id: key.id, timestamp: t });
  }
  return found;
}
