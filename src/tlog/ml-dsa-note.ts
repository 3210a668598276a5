/**
 * The ledger's post-quantum checkpoint signature: an additional signed-note line in the format of C2SP
 * tlog-cosignature v1.1.0-rc.1, signature type 0x06 (ML-DSA-44 subtree/v1), made by the log itself with
 * cosigner name = its origin, as tlog-checkpoint (HEAD) recommends for logs. The line is
 *
 *   — <origin> base64( key ID[4] || u64 BE timestamp || ML-DSA-44 signature[2420] )
 *
 * key ID = SHA-256(origin || 0x0A || 0x06 || public key[1312])[:4], and the signature (pure ML-DSA, empty
 * context) is over the binary cosigned_message, not the note text:
 *
 *   "subtree/v1\n\0" || u8 len || cosigner name || u64 timestamp || u8 len || origin || u64 start=0 || u64 end=size || root[32]
 *
 * Departures, and why: none in the bytes. The timestamp is when the ledger signed (it makes the tlog-witness
 * statement "the largest tree I observed as of then", true of the log's own tree). Checkpoints with extension
 * lines are not signed, as the 0x06 message does not cover them. The Ed25519 line (type 0x01) stays first and
 * unchanged, so verifiers that know only it, Go's golang.org/x/mod/sumdb/note among them, ignore this line (its
 * key ID differs) and accept the note as before.
 */
import { sha256 } from '../crypto/sha256.ts';
import { concatBytes, fromBase64, toBase64, toHex, utf8, fromHex } from '../crypto/encoding.ts';
import { ML_DSA_44, signMlDsa44 } from '../crypto/ml-dsa.ts';
import { portableCrypto, type CryptoBackend } from '../crypto/backend.ts';
import { parseCheckpointBody, type Checkpoint } from './checkpoint.ts';
import { NoteError, parseNote } from './note.ts';

export const ML_DSA_44_COSIGNATURE = 0x06;
const LABEL = utf8('subtree/v1\n\0');

export interface MlDsaNoteKey {
  readonly name: string;
  /** 4-byte key id, 8 lowercase hex digits. */
  readonly id: string;
  readonly publicKey: Uint8Array;
}

export function mlDsaNoteKeyId(name: string, publicKey: Uint8Array): string {
  return toHex(sha256(concatBytes(utf8(name), Uint8Array.of(0x0a, ML_DSA_44_COSIGNATURE), publicKey)).subarray(0, 4));
}

/** `<name>+<hex key id>+<base64(0x06 || public key)>`, the C2SP vkey of an ML-DSA-44 cosigner. */
export function formatMlDsaVerifierKey(name: string, publicKey: Uint8Array): string {
  if (name.length === 0 || /[\s+]/u.test(name)) throw new NoteError(`key name ${JSON.stringify(name)} must be non-empty without spaces or '+'`);
  return `${name}+${mlDsaNoteKeyId(name, publicKey)}+${toBase64(concatBytes(Uint8Array.of(ML_DSA_44_COSIGNATURE), publicKey))}`;
}

export function parseMlDsaVerifierKey(text: string): MlDsaNoteKey {
  const m = /^([^+\s]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/=]+)$/u.exec(text.trim());
  if (!m) throw new NoteError('an ML-DSA-44 verifier key is <name>+<8 hex digits>+<base64(0x06 || public key)>');
  const [, name, id, b64] = m as unknown as [string, string, string, string];
  let raw: Uint8Array;
  try {
    raw = fromBase64(b64);
  } catch {
    throw new NoteError('ML-DSA-44 verifier key: the key is not base64');
  }
  if (raw.length !== 1 + ML_DSA_44.publicKeyBytes || raw[0] !== ML_DSA_44_COSIGNATURE) throw new NoteError('ML-DSA-44 verifier key: not type 0x06 with a 1312-byte key');
  const publicKey = raw.subarray(1);
  // Checked, never recomputed: a vkey whose id does not match its key is refused (transparency-dev does not check).
  if (mlDsaNoteKeyId(name, publicKey) !== id) throw new NoteError('ML-DSA-44 verifier key: the key id does not match the name and key');
  return { name, id, publicKey };
}

const u64 = (n: number) => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n));
  return b;
};
const prefixed = (text: string) => {
  const bytes = utf8(text);
  if (bytes.length < 1 || bytes.length > 255) throw new NoteError(`${JSON.stringify(text)} must be 1 to 255 bytes in a subtree/v1 message`);
  return concatBytes(Uint8Array.of(bytes.length), bytes);
};

/** The tlog-cosignature subtree/v1 message for the whole tree of a checkpoint. */
export function cosignedMessage(cosignerName: string, timestamp: number, checkpoint: Checkpoint): Uint8Array {
  return concatBytes(LABEL, prefixed(cosignerName), u64(timestamp), prefixed(checkpoint.origin), u64(0), u64(checkpoint.size), checkpoint.root);
}

/** A signed checkpoint note with the ledger's ML-DSA-44 line added after its existing signature lines. */
export function addMlDsaSignature(
  note: string,
  name: string,
  key: { publicKey: Uint8Array; secretKey: Uint8Array },
  timestamp: number,
  /** The portable signer, or (Node entry points) OpenSSL's where this Node has it (src/native/ml-dsa.ts). */
  signMlDsa: (message: Uint8Array, secretKey: Uint8Array) => Uint8Array = signMlDsa44,
): string {
  const { text } = parseNote(note);
  const checkpoint = parseCheckpointBody(text);
  if (text.split('\n').length !== 4) throw new NoteError('an ML-DSA-44 checkpoint signature does not cover extension lines: refusing to sign a checkpoint that has them');
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) throw new RangeError('the timestamp is POSIX seconds');
  const signature = signMlDsa(cosignedMessage(name, timestamp, checkpoint), key.secretKey);
  return `${note}— ${name} ${toBase64(concatBytes(fromHex(mlDsaNoteKeyId(name, key.publicKey)), u64(timestamp), signature))}\n`;
}

export type MlDsaLineVerdict = { readonly found: false } | { readonly found: true; readonly valid: boolean; readonly timestamp: number };

/**
 * Finds the line of this key (name and key ID) and verifies it: absent, present and valid, or present and
 * invalid (which rejects the note: signed-note §"verification", a known key's signature that fails).
 */
export function verifyMlDsaLine(note: string, key: MlDsaNoteKey, crypto: CryptoBackend = portableCrypto): MlDsaLineVerdict {
  const { text, signatures } = parseNote(note);
  const mine = signatures.filter((s) => s.name === key.name && s.id === key.id);
  if (mine.length === 0) return { found: false };
  if (text.split('\n').length !== 4) return { found: true, valid: false, timestamp: 0 };
  const checkpoint = parseCheckpointBody(text);
  let timestamp = 0;
  for (const s of mine) {
    if (s.signature.length !== 8 + ML_DSA_44.signatureBytes) return { found: true, valid: false, timestamp: 0 };
    const ts = new DataView(s.signature.buffer, s.signature.byteOffset, 8).getBigUint64(0);
    if (ts > BigInt(Number.MAX_SAFE_INTEGER)) return { found: true, valid: false, timestamp: 0 };
    timestamp = Number(ts);
    if (!crypto.verifyMlDsa44(s.signature.subarray(8), cosignedMessage(key.name, timestamp, checkpoint), key.publicKey)) return { found: true, valid: false, timestamp };
  }
  return { found: true, valid: true, timestamp };
}
