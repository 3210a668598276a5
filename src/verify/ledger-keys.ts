/**
 * The chain of Ed25519 ledger keys (docs/format.md §5.4): each LedgerKeyRotated record names the key it
 * replaces and is signed by it. A verifier pinned to any key of the chain follows it forward, link by link, to
 * the key that signs the checkpoint; keys before the pinned one are those the log (signed by its successors)
 * records as its predecessors. Pure: no Node-only APIs.
 *
 * Which key signs what follows from log positions, as station key lives do (§8.3): the key in force at leaf e is
 * the one named by the last rotation at a leaf before e (the genesis key before the first), so a rotation record
 * is signed by the key it replaces, and a checkpoint of size s by the key in force at leaf s.
 */
import { verifyEnvelopeSignature } from '../crypto/dsse.ts';
import { keyIdOf } from '../crypto/ed25519.ts';
import { bytesEqual, fromHex } from '../crypto/encoding.ts';
import type { CryptoBackend } from '../crypto/backend.ts';
import { NoteError, parseVerifierKey, type NoteKey } from '../tlog/note.ts';
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
  const rotations = entries.filter((d) => d.event.type === 'LedgerKeyRotated').sort((a, b) => a.leafIndex - b.leafIndex);
  const pinnedKey = { keyId: keyIdOf(pinned.publicKey), publicKey: pinned.publicKey };
  if (rotations.length === 0) return { signing: pinned, keys: [pinnedKey], rotations: [], keyAt: () => pinnedKey };
  const keys: LedgerKey[] = [];
  let signing = pinned;
  for (const d of rotations) {
    if (d.event.type !== 'LedgerKeyRotated') continue;
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
