/**
 * The unit history map (docs/format.md §13, draft): a verifiable map, derived from the log alone, from each
 * unit serial to a commitment to every leaf of its stream. With a presence proof under a map root tied to a
 * checkpoint, a document's unit events are shown to be the unit's *complete* history as of that checkpoint,
 * not a prefix of it; a missing event is `HISTORY_INCOMPLETE`, naming the unit and how many events are missing
 * after which leaf. Pure.
 *
 * The mapping function, precisely enough to rebuild the map and compare roots:
 *   - Walk the log in leaf order, 0 to N-1. A leaf is a unit event when its envelope's payload is a unit event
 *     (stream `unit-<serial>`, §3); every other leaf leaves the map unchanged.
 *   - key(serial)   = SHA-256("flashtrail/serial/v1" || 0x00 || UTF-8 serial)                      (32 bytes)
 *   - chain₀        = SHA-256("flashtrail/unit-history/v1" || 0x00)
 *     chainᵢ₊₁      = SHA-256(chainᵢ || u64 BE leaf index || RFC 6962 leaf hash of the leaf)        (§4)
 *   - value(serial) = u64 BE event count || u64 BE leaf index of the last event || chain            (48 bytes)
 *   - The map is a Merkle Patricia Tree of those pairs (src/tlog/mpt.ts, torchwood's hashing); its root after N
 *     leaves is the map root "as of size N". An update is O(log n): one chain step and one tree path.
 */
import { portableCrypto, type CryptoBackend } from '../crypto/backend.ts';
import { concatBytes, toHex, utf8 } from '../crypto/encoding.ts';
import { MerklePatriciaTree, verifyLookup, type Hash } from '../tlog/mpt.ts';
import { VerificationError } from './errors.ts';
import { decodeTrustedEnvelope } from '../event/codec.ts';
import { streamOf, unitStream } from '../event/streams.ts';

const UNIT_STREAM_PREFIX = unitStream('');

/** The mapping function's test (docs/format.md §15.2): the serial of a logged entry that is a unit event, else null. */
export function unitSerialOfEntry(entry: Uint8Array, crypto: CryptoBackend = portableCrypto): string | null {
  return unitSerialOfEvent(decodeTrustedEnvelope(entry, crypto).event);
}

/** The same test on a decoded event. */
export function unitSerialOfEvent(event: Parameters<typeof streamOf>[0]): string | null {
  const stream = streamOf(event);
  return stream.startsWith(UNIT_STREAM_PREFIX) ? stream.slice(UNIT_STREAM_PREFIX.length) : null;
}

const KEY_TAG = concatBytes(utf8('flashtrail/serial/v1'), Uint8Array.of(0));
const CHAIN_TAG = concatBytes(utf8('flashtrail/unit-history/v1'), Uint8Array.of(0));
export const HISTORY_VALUE_BYTES = 48;

function u64be(n: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(n));
  return out;
}

export function historyKey(serial: string, crypto: CryptoBackend = portableCrypto): Uint8Array {
  return crypto.sha256(concatBytes(KEY_TAG, utf8(serial)));
}

export interface UnitHistory {
  readonly count: number;
  readonly lastLeaf: number;
  readonly chain: Hash;
}

export function emptyChain(crypto: CryptoBackend = portableCrypto): Hash {
  return crypto.sha256(CHAIN_TAG);
}

export function extendHistory(history: UnitHistory | null, leafIndex: number, leafHash: Hash, crypto: CryptoBackend = portableCrypto): UnitHistory {
  const chain = crypto.sha256(concatBytes(history?.chain ?? emptyChain(crypto), u64be(leafIndex), leafHash));
  return { count: (history?.count ?? 0) + 1, lastLeaf: leafIndex, chain };
}

export function encodeHistory(h: UnitHistory): Uint8Array {
  return concatBytes(u64be(h.count), u64be(h.lastLeaf), h.chain);
}

export function decodeHistory(value: Uint8Array): UnitHistory {
  if (value.length !== HISTORY_VALUE_BYTES) throw new VerificationError('FORMAT_ERROR', 'history', `a unit history value is ${HISTORY_VALUE_BYTES} bytes, not ${value.length}`);
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
  return { count: Number(view.getBigUint64(0)), lastLeaf: Number(view.getBigUint64(8)), chain: value.slice(16) };
}

/** The map as of one size, unchanged by later leaves: what proofs against a committed root are served from. */
export interface UnitHistorySnapshot {
  readonly size: number;
  root(): Hash;
  prove(serial: string): { value: Uint8Array | null; proof: Uint8Array };
  /** Any key of the tree (a firmware key, §15.6): its value and presence or absence proof. */
  lookup(key: Uint8Array): { value: Uint8Array | null; proof: Uint8Array };
  /** No longer served: a stored tree stops keeping its nodes. */
  release?(): void;
}

/** The map, built leaf by leaf in log order (the ledger's incremental builder and a third party's rebuild alike). */
export class UnitHistoryMap {
  private readonly tree: MerklePatriciaTree;
  // A unit's history lives only in its tree leaf (decoded on demand): a second copy per unit was most of the map's memory.
  private leaves = 0;
  private readonly changed = new Set<string>();

  /** `tree`: the map tree the histories go into; §15.6's firmware values share it from the v2 switch on. */
  constructor(private readonly crypto: CryptoBackend = portableCrypto, tree?: MerklePatriciaTree) {
    this.tree = tree ?? new MerklePatriciaTree(crypto);
  }

  /**
   * The map as it was persisted: its size and every unit's history. The tree's shape depends only on its
   * keys, so this gives the root the incremental build had (the caller compares it with the committed one).
   */
  static restore(size: number, histories: Iterable<readonly [string, UnitHistory]>, crypto: CryptoBackend = portableCrypto, tree?: MerklePatriciaTree): UnitHistoryMap {
    const map = new UnitHistoryMap(crypto, tree);
    for (const [serial, history] of histories) map.tree.set(historyKey(serial, crypto), encodeHistory(history));
    map.leaves = size;
    return map;
  }

  historyOf(serial: string): UnitHistory | null {
    const value = this.tree.get(historyKey(serial, this.crypto));
    return value === null ? null : decodeHistory(value);
  }

  /** Units updated since the last call, with their histories now (for a persistent copy). */
  takeChanged(): [string, UnitHistory][] {
    const out = [...this.changed].map((s) => [s, this.historyOf(s) as UnitHistory] as [string, UnitHistory]);
    this.changed.clear();
    return out;
  }

  /** Forgets which units changed (their histories are persisted with the tree itself, not as a copy). */
  forgetChanged(): void {
    this.changed.clear();
  }

  /** How many units changed since the last takeChanged (what a caller bounds by persisting them in batches). */
  get pendingChanges(): number {
    return this.changed.size;
  }

  snapshot(): UnitHistorySnapshot {
    const tree = this.tree.snapshot();
    const crypto = this.crypto;
    return {
      size: this.leaves,
      root: () => tree.rootHash(),
      prove: (serial) => {
        const { val, proof } = tree.proveLookup(historyKey(serial, crypto));
        return { value: val, proof };
      },
      lookup: (key) => {
        const { val, proof } = tree.proveLookup(key);
        return { value: val, proof };
      },
      release: () => tree.release?.(),
    };
  }

  /** Log leaves consumed: the map is "as of" this tree size. */
  get size(): number {
    return this.leaves;
  }

  /**
   * The next leaf of the log: its RFC 6962 leaf hash, and its unit's serial if it is a unit event. Returns the
   * unit's key as the tree keeps it (one array per unit, which the firmware sets share), or null.
   */
  append(leafHash: Hash, serial: string | null): Uint8Array | null {
    const index = this.leaves++;
    if (serial === null) return null;
    this.changed.add(serial);
    return this.tree.update(historyKey(serial, this.crypto), (held) => encodeHistory(extendHistory(held === null ? null : decodeHistory(held), index, leafHash, this.crypto)));
  }

  root(): Hash {
    return this.tree.rootHash();
  }

  /** The unit's history value and its presence proof, or null and an absence proof for a serial never logged. */
  prove(serial: string): { value: Uint8Array | null; proof: Uint8Array } {
    const { val, proof } = this.tree.proveLookup(historyKey(serial, this.crypto));
    return { value: val, proof };
  }
}

export interface HistoryClaim {
  /** Map root as of `size` leaves of the log. */
  readonly root: Hash;
  readonly size: number;
  /** The 48-byte history value the proof proves for the serial. */
  readonly value: Uint8Array;
  readonly proof: Uint8Array;
}

/**
 * Checks that `events` (the document's unit events: leaf index and RFC 6962 leaf hash, in log order) are every
 * event of `serial` in the first `claim.size` leaves of the log, given a map root the caller has tied to a signed
 * checkpoint of that size. Returns the verified history; throws HISTORY_INCOMPLETE naming what is missing.
 */
export function verifyCompleteHistory(serial: string, events: readonly { leafIndex: number; leafHash: Hash }[], claim: HistoryClaim, crypto: CryptoBackend = portableCrypto): UnitHistory {
  const where = { serial, field: 'history' };
  if (!verifyLookup(claim.root, historyKey(serial, crypto), claim.value, claim.proof, crypto)) {
    throw new VerificationError('HISTORY_INCOMPLETE', 'history', `unit ${serial}: the map proof does not show this history value under map root ${toHex(claim.root).slice(0, 16)}… (size ${claim.size})`, where);
  }
  const mapped = decodeHistory(claim.value);
  let ours: UnitHistory | null = null;
  for (const e of events) ours = extendHistory(ours, e.leafIndex, e.leafHash, crypto);
  if (ours && ours.count === mapped.count && ours.lastLeaf === mapped.lastLeaf && toHex(ours.chain) === toHex(mapped.chain)) return ours;
  const held = ours ? `${ours.count} event(s) up to leaf ${ours.lastLeaf}` : 'no events';
  const missing =
    ours && mapped.count > ours.count && mapped.lastLeaf > ours.lastLeaf
      ? `${mapped.count - ours.count} event(s) are missing, the last at leaf ${mapped.lastLeaf}`
      : ours && mapped.count === ours.count && mapped.lastLeaf === ours.lastLeaf
        ? 'the same count and last leaf, but other events (one was replaced)'
        : `the events differ (the map has ${mapped.count}, the last at leaf ${mapped.lastLeaf})`;
  throw new VerificationError(
    'HISTORY_INCOMPLETE',
    'history',
    `unit ${serial}: the log's first ${claim.size} leaves hold ${mapped.count} event(s) of it up to leaf ${mapped.lastLeaf}; the document holds ${held}: ${missing}`,
    { ...where, leafIndex: mapped.lastLeaf },
  );
}
