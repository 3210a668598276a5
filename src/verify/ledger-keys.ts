/**
 * The chain of Ed25519 ledger keys (docs/format.md §5.4): each LedgerKeyRotated record names the key it
 * replaces and is signed by it. A verifier pinned to any key of the chain follows it forward, link by link, to
 * the key that signs the checkpoint; keys before the pinned one are those the log (signed by its successors)
 * records as its predecessors. Pure: no Node-only APIs.
 *
 * Which key signs what follows from log positions, as station key lives do (§8.3): the key in force at leaf e is
 * the one named by the last rotation at a leaf before e (the genesis key before the first), so a rotation record
 * is signed by the key it replaces, and a checkpoint of size s by the key in force at leaf s.
 *
 * The ML-DSA-44 key has a chain of its own (§5.5, LedgerKeyRotated version 2): each link is signed, inside its
 * data, by the ML-DSA-44 key it replaces, and its envelope, like every ledger record's, by the Ed25519 key in
 * force at its leaf (checked with the other trust records, establishKeys). The checkpoint's ML-DSA-44 line and
 * the statements' ML-DSA-44 signatures are the last ML-DSA-44 key's of the chain their tree holds.
 */
import { verifyEnvelopeSignature } from '../crypto/dsse.ts';
import { keyIdOf } from '../crypto/ed25519.ts';
import { bytesEqual, fromBase64, fromHex } from '../crypto/encoding.ts';
import type { CryptoBackend } from '../crypto/backend.ts';
import { NoteError, parseVerifierKey, type NoteKey } from '../tlog/note.ts';
import { parseMlDsaVerifierKey, type MlDsaNoteKey } from '../tlog/ml-dsa-note.ts';
import { verifyMlDsaRotationSignature } from '../tlog/ml-dsa-rotation.ts';
import { mlDsaKeyId } from '../crypto/ml-dsa.ts';
import { fail, type Decoded } from './steps.ts';
import { VerificationError } from './errors.ts';

export interface LedgerKey {
  readonly keyId: string;
  readonly publicKey: Uint8Array;
}

export interface LedgerKeyChain {
  /** The key that signs the checkpoint and the ledger's statements: the last of the chain. */
  readonly signing: NoteKey;
  /** Every key of the chain, oldest first (the pinned key alone when nothing was rotated). */
  readonly keys: readonly LedgerKey[];
  /** Leaf indices of the rotation records, ascending: keys[i + 1] is in force after rotations[i]. */
  readonly rotations: readonly number[];
  /** The ledger key in force at a leaf: the one that must sign the ledger's records there. */
  keyAt(leafIndex: number): LedgerKey;
}

const short = (keyId: string) => `${keyId.slice(0, 16)}…`;

/**
 * Follows the rotation records of a file (trust entries, any order) from the pinned key. Refuses with
 * LEDGER_KEY_ERROR a link not signed by the key it replaces, a link that does not continue the one before, a
 * new key announced under another origin, and a chain that does not hold the pinned key.
 */
export function followLedgerKeyChain(entries: readonly Decoded[], pinned: NoteKey, crypto: CryptoBackend, step = 'ledger-keys'): LedgerKeyChain {
  const rotations = entries.filter((d) => d.event.type === 'LedgerKeyRotated' && d.event.data.algorithm === 'ed25519').sort((a, b) => a.leafIndex - b.leafIndex);
  const pinnedKey = { keyId: keyIdOf(pinned.publicKey), publicKey: pinned.publicKey };
  if (rotations.length === 0) return { signing: pinned, keys: [pinnedKey], rotations: [], keyAt: () => pinnedKey };
  const keys: LedgerKey[] = [];
  let signing = pinned;
  for (const d of rotations) {
    if (d.event.type !== 'LedgerKeyRotated' || d.event.data.algorithm !== 'ed25519') continue;
    const data = d.event.data;
    const previous = { keyId: data.previousKeyId, publicKey: fromHex(data.previousPublicKey) };
    const next = { keyId: data.keyId, publicKey: fromHex(data.publicKey) };
    if (keyIdOf(previous.publicKey) !== previous.keyId || keyIdOf(next.publicKey) !== next.keyId) throw fail('FORMAT_ERROR', step, d, 'a key id is not the SHA-256 of its public key');
    const last = keys[keys.length - 1];
    if (last === undefined) keys.push(previous);
    else if (last.keyId !== previous.keyId) throw fail('LEDGER_KEY_ERROR', step, d, `the chain of ledger keys is broken: this rotation replaces ${short(previous.keyId)}, but the key in force before it is ${short(last.keyId)}`);
    if (d.keyId !== previous.keyId || !verifyEnvelopeSignature(d.envelope, previous.publicKey, crypto)) {
      throw fail('LEDGER_KEY_ERROR', step, d, `the rotation to ${short(next.keyId)} is not signed by the key it replaces, ${short(previous.keyId)} (signed by ${short(d.keyId)})`);
    }
    let vkey: NoteKey;
    try {
      vkey = parseVerifierKey(data.verifierKey);
    } catch (error) {
      if (!(error instanceof NoteError)) throw error;
      throw fail('LEDGER_KEY_ERROR', step, d, `the rotation's verifier key is not valid: ${error.message}`);
    }
    if (vkey.name !== pinned.name || !bytesEqual(vkey.publicKey, next.publicKey)) throw fail('LEDGER_KEY_ERROR', step, d, `the rotation's verifier key is not ${pinned.name}'s key ${short(next.keyId)}: a rotation keeps the log's origin`);
    keys.push(next);
    signing = vkey;
  }
  if (!keys.some((k) => k.keyId === pinnedKey.keyId)) {
    throw new VerificationError('LEDGER_KEY_ERROR', step, `the pinned ledger key ${short(pinnedKey.keyId)} is not in the file's chain of ledger keys ${keys.map((k) => short(k.keyId)).join(' → ')}`, { field: 'entries' });
  }
  const leaves = rotations.map((d) => d.leafIndex);
  return {
    signing,
    keys,
    rotations: leaves,
    keyAt: (leafIndex) => keys[leaves.filter((r) => r < leafIndex).length] as LedgerKey,
  };
}

export interface MlDsaKeyChain {
  /** The ML-DSA-44 key that signs the checkpoint's ML-DSA-44 line and the statements: the last of the chain. */
  readonly signing: MlDsaNoteKey;
  /** Every ML-DSA-44 key of the chain, oldest first (the pinned key alone when nothing was rotated). */
  readonly keys: readonly LedgerKey[];
  /** Leaf indices of the ML-DSA-44 rotation records, ascending. */
  readonly rotations: readonly number[];
}

/**
 * Follows the ML-DSA-44 rotation records of a file (trust entries, any order; others are ignored) from the
 * pinned ML-DSA-44 key (§5.5). Refuses with FORMAT_ERROR a key id that is not its key's SHA-256, and with
 * LEDGER_KEY_ERROR, naming the key ids: a link that does not continue the one before, a link whose
 * previousKeySignature is not the replaced key's over the new one, a verifier key that is not the new key under
 * the pinned key's name, and a chain that does not hold the pinned key.
 */
export function followMlDsaKeyChain(entries: readonly Decoded[], pinned: MlDsaNoteKey, crypto: CryptoBackend, step = 'ledger-keys'): MlDsaKeyChain {
  const links = entries.filter((d) => d.event.type === 'LedgerKeyRotated' && d.event.data.algorithm === 'ml-dsa-44').sort((a, b) => a.leafIndex - b.leafIndex);
  const pinnedKey = { keyId: mlDsaKeyId(pinned.publicKey), publicKey: pinned.publicKey };
  if (links.length === 0) return { signing: pinned, keys: [pinnedKey], rotations: [] };
  const keys: LedgerKey[] = [];
  let signing = pinned;
  for (const d of links) {
    if (d.event.type !== 'LedgerKeyRotated' || d.event.data.algorithm !== 'ml-dsa-44') continue;
    const data = d.event.data;
    const previous = { keyId: data.previousKeyId, publicKey: fromBase64(data.previousPublicKey) };
    const next = { keyId: data.keyId, publicKey: fromBase64(data.publicKey) };
    if (mlDsaKeyId(previous.publicKey) !== previous.keyId || mlDsaKeyId(next.publicKey) !== next.keyId) throw fail('FORMAT_ERROR', step, d, 'an ML-DSA-44 key id is not the SHA-256 of its public key');
    const last = keys[keys.length - 1];
    if (last === undefined) keys.push(previous);
    else if (last.keyId !== previous.keyId) throw fail('LEDGER_KEY_ERROR', step, d, `the chain of ML-DSA-44 ledger keys is broken: this rotation replaces ${short(previous.keyId)}, but the ML-DSA-44 key in force before it is ${short(last.keyId)}`);
    if (!verifyMlDsaRotationSignature(pinned.name, data, crypto)) {
      throw fail('LEDGER_KEY_ERROR', step, d, `the rotation of the ML-DSA-44 key to ${short(next.keyId)} is not signed by the key it replaces, ${short(previous.keyId)}: its previousKeySignature does not verify`);
    }
    let vkey: MlDsaNoteKey;
    try {
      vkey = parseMlDsaVerifierKey(data.verifierKey);
    } catch (error) {
      if (!(error instanceof NoteError)) throw error;
      throw fail('LEDGER_KEY_ERROR', step, d, `the ML-DSA-44 rotation's verifier key is not valid: ${error.message}`);
    }
    if (vkey.name !== pinned.name || !bytesEqual(vkey.publicKey, next.publicKey)) throw fail('LEDGER_KEY_ERROR', step, d, `the ML-DSA-44 rotation's verifier key is not ${pinned.name}'s key ${short(next.keyId)}: a rotation keeps the log's origin`);
    keys.push(next);
    signing = vkey;
  }
  if (!keys.some((k) => k.keyId === pinnedKey.keyId)) {
    throw new VerificationError('LEDGER_KEY_ERROR', step, `the pinned ML-DSA-44 ledger key ${short(pinnedKey.keyId)} is not in the file's chain of ML-DSA-44 ledger keys ${keys.map((k) => short(k.keyId)).join(' → ')}`, { field: 'entries' });
  }
  return { signing, keys, rotations: links.map((d) => d.leafIndex) };
}

/** The signature policy with the pinned ML-DSA-44 key replaced by the chain's last key: what the evidence is checked against. */
export function followedPolicy<P extends { readonly mlDsaKey?: MlDsaNoteKey | null }>(policy: P, chain: MlDsaKeyChain | null): P {
  return chain ? { ...policy, mlDsaKey: chain.signing } : policy;
}

/** The step line of a followed ML-DSA-44 chain. */
export function mlDsaChainDetail(chain: MlDsaKeyChain, pinned: MlDsaNoteKey): string {
  return `${chain.rotations.length} rotation(s) of the ML-DSA-44 ledger key, each signed (ML-DSA-44) by the key it replaces, from the pinned ${pinned.name} (${pinned.id}) to ${chain.signing.id}: ${chain.keys.map((k) => short(k.keyId)).join(' → ')}`;
}
