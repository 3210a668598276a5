/**
 * The firmware part of the unit map (issue 15; draft of docs/format.md §15.6, not yet committed by the index
 * log): from the log alone, in leaf order, which serials carry a firmware image digest now, and which carried it
 * before. Pure; the building block of `GET /v1/firmware/{sha256}/units` and its verifier.
 *
 * What a unit carries is one digest per image *slot* (the image kind of §2.5: `application` for the recipe name
 * `app`, the name otherwise), the last one the device or its station reported for that slot:
 *   - BootloaderWritten (v1): `bootloader` ← imageSha256;  AppVerified (v1): `application` ← reportedSha256;
 *   - ImagesWritten, UnitLocked: each image's sha256;  ProvisioningApplied v2 with `image`: that image;
 *   - ImagesVerified with a 64-character comparison (readback_sha256, tool_compare): each image's `reported`
 *     (a boot-log ELF digest is not an image digest and changes nothing);
 *   - FirmwareUpdated: each image it lists (what the device reported running after the field update).
 * Other unit events (rework, scrap, ship) change nothing: a scrapped unit still carries its images, and its
 * status is in its own history (§15.4).
 *
 * For each digest D ever carried, one value: u64 BE count carrying now || u64 BE count ever carrying ||
 * the root of a set tree (the same Merkle Patricia Tree, §15.1) with, for every serial that ever carried D, the
 * key SHA-256("flashtrail/serial/v1" || 0x00 || serial) and the value 0x01 || serial (carries D now) or
 * 0x00 || serial (carried it, no longer). A set tree only ever gains keys (the tree has no deletion), so an
 * update is O(log n) per image, and a rebuild from the log gives the same roots. Given every serial of both
 * kinds, a verifier rebuilds the set root and compares: a serial left out, added or moved is detected.
 * The digest's key in the map is SHA-256("flashtrail/firmware/v1" || 0x00 || the 32 digest bytes).
 */
import { portableCrypto, type CryptoBackend } from '../crypto/backend.ts';
import { concatBytes, fromHex, toHex, utf8 } from '../crypto/encoding.ts';
import { MerklePatriciaTree, MptIntegrityError, verifyLookup, type Hash, type MptPages, type MptStoredTree } from '../tlog/mpt.ts';
import { decodeTrustedEnvelope } from '../event/codec.ts';
import { VerificationError } from './errors.ts';
import { historyKey, unitSerialOfEvent, UnitHistoryMap, type UnitHistory, type UnitHistorySnapshot } from './history-map.ts';
import { historyFormatError, verifyMapCommitment, type HistoryCheckOptions, type MapCommitmentVersion } from './map-commitment.ts';
import { fromBase64 } from '../crypto/encoding.ts';
import { CheckpointFormatError, parseCheckpointBody, type Checkpoint } from '../tlog/checkpoint.ts';
import { NoteError, verifyNote, type NoteKey } from '../tlog/note.ts';
import type { WitnessReport } from './witnesses.ts';
import { FirmwareUnitsAnswer } from '../../schemas/history.ts';

const FIRMWARE_KEY_TAG = concatBytes(utf8('flashtrail/firmware/v1'), Uint8Array.of(0));
export const FIRMWARE_VALUE_BYTES = 48;
const SHA256_HEX = /^[0-9a-f]{64}$/;

export const imageSlot = (name: string): string => (name === 'app' ? 'application' : name);

export function firmwareKey(sha256Hex: string, crypto: CryptoBackend = portableCrypto): Uint8Array {
  if (!SHA256_HEX.test(sha256Hex)) throw new VerificationError('FORMAT_ERROR', 'firmware', `a firmware digest is 64 lowercase hex digits, not ${sha256Hex.slice(0, 70)}`, { field: 'sha256' });
  return crypto.sha256(concatBytes(FIRMWARE_KEY_TAG, fromHex(sha256Hex)));
}

export interface Reported { readonly slot: string; readonly sha256: string }

/** The image digests a logged unit event reports, by slot (the mapping function above); [] for any other event. */
export function reportedImagesOfEvent(type: string, data: Record<string, unknown>): Reported[] {
  const list = (images: unknown, digest: (i: Record<string, unknown>) => unknown): Reported[] =>
    (Array.isArray(images) ? (images as Record<string, unknown>[]) : [])
      .map((i) => ({ slot: imageSlot(String(i.name)), sha256: digest(i) }))
      .filter((r): r is Reported => typeof r.sha256 === 'string' && SHA256_HEX.test(r.sha256));
  switch (type) {
    case 'BootloaderWritten':
      return [{ slot: 'bootloader', sha256: data.imageSha256 as string }];
    case 'AppVerified':
      return [{ slot: 'application', sha256: data.reportedSha256 as string }];
    case 'ImagesWritten':
    case 'UnitLocked':
    case 'FirmwareUpdated':
      return list(data.images, (i) => i.sha256);
    case 'ImagesVerified':
      return data.method === 'boot_log_elf_sha256' ? [] : list(data.images, (i) => i.reported);
    case 'ProvisioningApplied':
      return data.image ? list([data.image], (i) => i.sha256) : [];
    default:
      return [];
  }
}

/** A logged entry's unit serial and reported images, or null for a leaf that is not a unit event. */
export function firmwareOfEntry(entry: Uint8Array, crypto: CryptoBackend = portableCrypto): { serial: string; images: Reported[] } | null {
  const { event } = decodeTrustedEnvelope(entry, crypto);
  const serial = unitSerialOfEvent(event);
  if (serial === null) return null;
  return { serial, images: reportedImagesOfEvent(event.type, event.data as Record<string, unknown>) };
}

export interface FirmwareValue {
  readonly now: number;
  readonly ever: number;
  readonly setRoot: Hash;
}

export function encodeFirmwareValue(v: FirmwareValue): Uint8Array {
  const out = new Uint8Array(FIRMWARE_VALUE_BYTES);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(v.now));
  view.setBigUint64(8, BigInt(v.ever));
  out.set(v.setRoot, 16);
  return out;
}

export function decodeFirmwareValue(value: Uint8Array): FirmwareValue {
  if (value.length !== FIRMWARE_VALUE_BYTES) throw new VerificationError('FORMAT_ERROR', 'firmware', `a firmware value is ${FIRMWARE_VALUE_BYTES} bytes, not ${value.length}`, { field: 'value' });
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
  return { now: Number(view.getBigUint64(0)), ever: Number(view.getBigUint64(8)), setRoot: value.slice(16) };
}

const setEntry = (serial: string, now: boolean): Uint8Array => concatBytes(Uint8Array.of(now ? 1 : 0), utf8(serial));

/** The set root of a digest from its serials: those carrying it now and those that carried it before. */
export function firmwareSetRoot(now: readonly string[], formerly: readonly string[], crypto: CryptoBackend = portableCrypto): Hash {
  const tree = new MerklePatriciaTree(crypto);
  for (const s of now) tree.set(historyKey(s, crypto), setEntry(s, true));
  for (const s of formerly) tree.set(historyKey(s, crypto), setEntry(s, false));
  return tree.rootHash();
}

/** One change of a digest's set: `serial` carries `digest` now (or no longer), from leaf `leaf` on. */
export interface FirmwareMembership {
  readonly digest: string;
  readonly serial: string;
  readonly now: boolean;
  readonly leaf: number;
}

/** What a unit's slot carries (for a persistent copy). */
export interface FirmwareSlot {
  readonly serial: string;
  readonly slot: string;
  readonly sha256: string;
}

/**
 * Where the firmware part of a stored map (one whose trees live in a node store, src/read/unit-map-nodes.ts)
 * finds what is not in memory: what a unit's slots carried and a digest's set tree, both as of the last flush.
 */
export interface FirmwareSource {
  /** What the unit's slots carried at the last flush ([] for a unit that reported no image). */
  slotsOf(serial: string): readonly { readonly slot: string; readonly sha256: string }[];
  /** The digest's set tree as last flushed, or null for a digest never flushed. */
  setTree(digest: string): MerklePatriciaTree | null;
  /** A new, empty set tree in the same store. */
  newTree(): MerklePatriciaTree;
  /** How many units' slots stay in memory after a takeChanges (they are read again on their next use). */
  readonly slotsKept: number;
}

/**
 * The firmware values, built event by event in log order into a map tree (the ledger's, shared with the unit
 * histories under their own key domain, or a tree of its own until the v2 switch, §15.3). O(log n) per
 * reported image. A digest's value is written into the tree by `settle` (CommittedMap calls it before each root,
 * snapshot and flush), not on every membership change, so that its set tree is hashed once for the changes
 * between two roots: a caller reading the tree itself settles first.
 */
export class FirmwareIndex {
  /**
   * Per serial, what its slots carry, flat: [slot, sha256, slot, sha256, …], the strings interned (a few
   * distinct slots and digests shared by millions of units). A Map per unit cost several times as much. With a
   * source, a cache: every unit changed since the last takeChanges, and the most recently read.
   */
  private carried = new Map<string, string[]>();
  private readonly interned = new Map<string, string>();
  /**
   * Per digest, its set tree and how many members carry it now. Whether a serial carries it now is read from
   * its leaf (0x01 || serial or 0x00 || serial), and how many ever did is the tree's size: no other copy.
   */
  private readonly sets = new Map<string, { tree: MerklePatriciaTree; now: number }>();
  /** Digests whose membership changed since their value was last written. */
  private readonly unsettled = new Set<string>();
  private changedMembers: FirmwareMembership[] = [];
  private readonly changedSerials = new Set<string>();

  constructor(
    private tree: MerklePatriciaTree,
    private readonly crypto: CryptoBackend = portableCrypto,
    private readonly source: FirmwareSource | null = null,
  ) {}

  /** The index as it was persisted: every slot's digest and every digest's members, its values written into `tree`. */
  static restore(tree: MerklePatriciaTree, slots: Iterable<FirmwareSlot>, members: Iterable<Omit<FirmwareMembership, 'leaf'>>, crypto: CryptoBackend = portableCrypto): FirmwareIndex {
    const index = new FirmwareIndex(tree, crypto);
    for (const { serial, slot, sha256 } of slots) index.carry(serial, slot, sha256);
    for (const { digest, serial, now } of members) {
      const set = index.setOf(digest);
      set.now += now ? 1 : 0;
      set.tree.set(historyKey(serial, crypto), setEntry(serial, now));
      index.unsettled.add(digest);
    }
    index.settle();
    return index;
  }

  /** The tree the firmware values are written into (the map tree from the v2 switch on). */
  get valuesTree(): MerklePatriciaTree {
    return this.tree;
  }

  private intern(text: string): string {
    const held = this.interned.get(text);
    if (held !== undefined) return held;
    this.interned.set(text, text);
    return text;
  }

  /** The unit's flat slot list, read from the source when it is not in memory (undefined: it carries nothing). */
  private slotsHeld(serial: string): string[] | undefined {
    const held = this.carried.get(serial);
    if (held !== undefined || !this.source) return held;
    const stored = this.source.slotsOf(serial);
    if (stored.length === 0) return undefined;
    const slots: string[] = [];
    for (const { slot, sha256 } of stored) slots.push(this.intern(slot), this.intern(sha256));
    this.carried.set(serial, slots);
    return slots;
  }

  /** Sets what `slot` of `serial` carries; returns the unit's flat slot list. */
  private carry(serial: string, slot: string, sha256: string): string[] {
    let slots = this.slotsHeld(serial);
    if (!slots) this.carried.set(serial, (slots = []));
    for (let i = 0; i < slots.length; i += 2) {
      if (slots[i] === slot) {
        slots[i + 1] = this.intern(sha256);
        return slots;
      }
    }
    slots.push(this.intern(slot), this.intern(sha256));
    return slots;
  }

  /** Applies one unit event's reported images; `leaf` is its leaf index (what the changes are recorded at); `key` its serial's map key, when the caller has it. */
  apply(serial: string, images: readonly Reported[], leaf = 0, key?: Uint8Array): void {
    if (images.length === 0) return;
    const before = new Set(digestsOf(this.slotsHeld(serial) ?? []));
    let slots: string[] = [];
    for (const i of images) slots = this.carry(serial, i.slot, i.sha256);
    this.changedSerials.add(serial);
    const after = new Set(digestsOf(slots));
    let serialKey = key;
    const keyOf = () => (serialKey ??= historyKey(serial, this.crypto));
    for (const d of before) if (!after.has(d)) this.mark(d, serial, keyOf(), false, leaf);
    for (const d of after) if (!before.has(d)) this.mark(d, serial, keyOf(), true, leaf);
  }

  /** The digest's set, from memory or the source (null: no unit ever carried it). */
  private setHeld(digest: string): { tree: MerklePatriciaTree; now: number } | null {
    const held = this.sets.get(digest);
    if (held || !this.source) return held ?? null;
    const tree = this.source.setTree(digest);
    if (!tree) return null;
    const value = this.tree.get(firmwareKey(digest, this.crypto));
    const decoded = value === null ? null : decodeFirmwareValue(value);
    if (!decoded || toHex(decoded.setRoot) !== toHex(tree.rootHash()) || decoded.ever !== tree.size) {
      throw new MptIntegrityError(`the stored set tree of firmware ${digest.slice(0, 16)}… is not the one its map value commits to: the node store was changed or damaged`);
    }
    const set = { tree, now: decoded.now };
    this.sets.set(digest, set);
    return set;
  }

  private setOf(digest: string) {
    let set = this.setHeld(digest);
    if (!set) this.sets.set(digest, (set = { tree: this.source ? this.source.newTree() : new MerklePatriciaTree(this.crypto), now: 0 }));
    return set;
  }

  private writeValue(digest: string): void {
    const set = this.setOf(digest);
    this.tree.set(firmwareKey(digest, this.crypto), encodeFirmwareValue({ now: set.now, ever: set.tree.size, setRoot: set.tree.rootHash() }));
  }

  private mark(digest: string, serial: string, key: Uint8Array, now: boolean, leaf: number): void {
    const set = this.setOf(digest);
    const held = set.tree.get(key);
    const was = held === null ? undefined : held[0] === 1;
    if (was === now) return;
    set.now += now ? 1 : was === true ? -1 : 0;
    set.tree.set(key, setEntry(serial, now));
    this.changedMembers.push({ digest, serial, now, leaf });
    this.unsettled.add(digest);
  }

  /** Writes the value of every digest whose membership changed since the last call (what a root covers). */
  settle(): void {
    for (const digest of this.unsettled) this.writeValue(digest);
    this.unsettled.clear();
  }

  /** Writes every digest's value into `tree` and keeps writing there: the v2 switch (§15.3), O(d log n) once. */
  moveTo(tree: MerklePatriciaTree): void {
    this.settle();
    const values = this.tree;
    this.tree = tree;
    // The values tree holds one pair per digest ever carried: each moves as it is.
    for (const { key, val } of values.entries()) tree.set(key, val);
  }

  /** Membership changes since the last call, and every slot of the units they touched (for a persistent copy). */
  takeChanges(): { members: FirmwareMembership[]; slots: FirmwareSlot[] } {
    const members = this.changedMembers;
    this.changedMembers = [];
    const slots: FirmwareSlot[] = [];
    for (const serial of this.changedSerials) {
      const carried = this.carried.get(serial) ?? [];
      for (let i = 0; i < carried.length; i += 2) slots.push({ serial, slot: carried[i] as string, sha256: carried[i + 1] as string });
    }
    this.changedSerials.clear();
    // Persisted by the caller from here on: what the source holds, read again on the next use.
    if (this.source && this.carried.size > this.source.slotsKept) this.carried = new Map();
    return { members, slots };
  }

  /** How many changes wait for takeChanges (what a caller bounds by persisting them in batches). */
  get pendingChanges(): number {
    return this.changedMembers.length + this.changedSerials.size;
  }

  /** The set trees held in memory, by digest (what a stored map flushes and unloads). */
  heldSets(): IterableIterator<[string, { readonly tree: MerklePatriciaTree }]> {
    return this.sets.entries();
  }

  /** The serials of a digest: carrying it now, and carried it before (each sorted). */
  serialsOf(digest: string): { now: string[]; formerly: string[] } {
    const tree = this.setHeld(digest)?.tree;
    const decoder = new TextDecoder();
    return splitMembers(tree ? [...tree.entries()].map(({ val }) => [decoder.decode(val.subarray(1)), val[0] === 1] as const) : []);
  }

  /** What a slot of a unit carries now. */
  carriedBy(serial: string): ReadonlyMap<string, string> {
    const carried = this.slotsHeld(serial) ?? [];
    const out = new Map<string, string>();
    for (let i = 0; i < carried.length; i += 2) out.set(carried[i] as string, carried[i + 1] as string);
    return out;
  }
}

/** The digests of a flat slot list. */
function digestsOf(slots: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 1; i < slots.length; i += 2) out.push(slots[i] as string);
  return out;
}

/** Serials carrying a digest now, and those that carried it before, each sorted by UTF-16 code units. */
export function splitMembers(members: Iterable<readonly [string, boolean]>): { now: string[]; formerly: string[] } {
  const all = [...members];
  return { now: all.filter(([, n]) => n).map(([s]) => s).sort(), formerly: all.filter(([, n]) => !n).map(([s]) => s).sort() };
}

/**
 * The map the index log commits, built leaf by leaf in log order (the ledger's, a monitor's and a third party's
 * rebuild alike): the unit histories (§15.2) in the map tree, and the firmware values (§15.6) on a tree of their
 * own until `upgrade()`, the switch to `flashtrail/map-commitment/v2` (§15.3), moves them into the map tree.
 * A v1 root is thus exactly what the units-only map gave, and a v2 root covers both, from leaf 0.
 */
export class CommittedMap {
  readonly units: UnitHistoryMap;
  readonly firmware: FirmwareIndex;
  private readonly tree: MerklePatriciaTree;
  private versionNow: MapCommitmentVersion;

  private constructor(units: UnitHistoryMap, firmware: FirmwareIndex, tree: MerklePatriciaTree, version: MapCommitmentVersion) {
    this.units = units;
    this.firmware = firmware;
    this.tree = tree;
    this.versionNow = version;
  }

  static empty(crypto: CryptoBackend = portableCrypto, version: MapCommitmentVersion = 1): CommittedMap {
    const tree = new MerklePatriciaTree(crypto);
    return new CommittedMap(new UnitHistoryMap(crypto, tree), new FirmwareIndex(version === 2 ? tree : new MerklePatriciaTree(crypto), crypto), tree, version);
  }

  /** The map as persisted (see UnitHistoryMap.restore and FirmwareIndex.restore); the caller compares its root. */
  static restore(
    size: number,
    version: MapCommitmentVersion,
    histories: Iterable<readonly [string, UnitHistory]>,
    slots: Iterable<FirmwareSlot>,
    members: Iterable<Omit<FirmwareMembership, 'leaf'>>,
    crypto: CryptoBackend = portableCrypto,
  ): CommittedMap {
    const tree = new MerklePatriciaTree(crypto);
    const units = UnitHistoryMap.restore(size, histories, crypto, tree);
    return new CommittedMap(units, FirmwareIndex.restore(version === 2 ? tree : new MerklePatriciaTree(crypto), slots, members, crypto), tree, version);
  }

  /**
   * A map whose trees live in a node store (src/read/unit-map-nodes.ts), opened as its last flush left them:
   * O(1), nothing is read until it is used. The caller compares `root()` with the committed map root.
   */
  static open(stored: StoredCommittedMap, pages: MptPages, source: Pick<FirmwareSource, 'slotsOf' | 'slotsKept'> & { setTree(digest: string): MptStoredTree | null }, crypto: CryptoBackend = portableCrypto): CommittedMap {
    const tree = new MerklePatriciaTree(crypto, pages, stored.map);
    const values = stored.version === 2 ? tree : new MerklePatriciaTree(crypto, pages, stored.firmware ?? undefined);
    const sets: FirmwareSource = {
      slotsOf: (serial) => source.slotsOf(serial),
      setTree: (digest) => {
        const record = source.setTree(digest);
        return record && new MerklePatriciaTree(crypto, pages, record);
      },
      newTree: () => new MerklePatriciaTree(crypto, pages),
      slotsKept: source.slotsKept,
    };
    return new CommittedMap(UnitHistoryMap.restore(stored.size, [], crypto, tree), new FirmwareIndex(values, crypto, sets), tree, stored.version);
  }

  /**
   * A stored map's changes since its last flush, written through `write` (nodes, children first): the records to
   * open it again, each changed set tree's, and the ids of stored nodes no longer in any tree (the snapshots
   * still served may hold them: the caller frees them once those are released).
   */
  flush(write: (id: number, row: Uint8Array) => void): { map: MptStoredTree; firmware: MptStoredTree | null; sets: [string, MptStoredTree][]; replaced: number[] } {
    this.firmware.settle();
    const sets: [string, MptStoredTree][] = [];
    const replaced: number[] = [];
    for (const [digest, { tree }] of this.firmware.heldSets()) {
      if (tree.dirty) sets.push([digest, tree.flush(write)]);
      replaced.push(...tree.takeReplaced());
    }
    const values = this.firmware.valuesTree;
    const firmware = values === this.tree ? null : values.flush(write);
    if (values !== this.tree) replaced.push(...values.takeReplaced());
    const map = this.tree.flush(write);
    replaced.push(...this.tree.takeReplaced());
    return { map, firmware, sets, replaced };
  }

  /** Keeps about `nodes` stored nodes in memory across the map's trees (after a flush), the top of each. */
  unload(nodes: number): void {
    const trees = [this.tree, ...(this.firmware.valuesTree === this.tree ? [] : [this.firmware.valuesTree]), ...[...this.firmware.heldSets()].map(([, s]) => s.tree)];
    const resident = trees.reduce((n, t) => n + t.resident, 0);
    if (resident <= nodes) return;
    // Half the budget, shared by what each tree held: the next unload is as many reads away.
    for (const t of trees) t.unload(Math.max(1, Math.floor((nodes / 2) * (t.resident / resident))));
  }

  /** Stored nodes held in memory across the map's trees (an estimate: what `unload` bounds). */
  get resident(): number {
    let n = this.tree.resident + (this.firmware.valuesTree === this.tree ? 0 : this.firmware.valuesTree.resident);
    for (const [, s] of this.firmware.heldSets()) n += s.tree.resident;
    return n;
  }

  get version(): MapCommitmentVersion {
    return this.versionNow;
  }

  get size(): number {
    return this.units.size;
  }

  /** The next leaf of the log: its leaf hash and, for a unit event, its serial and reported images. */
  append(leafHash: Hash, unit: { serial: string; images: readonly Reported[] } | null): void {
    const leaf = this.units.size;
    const key = this.units.append(leafHash, unit?.serial ?? null);
    if (unit) this.firmware.apply(unit.serial, unit.images, leaf, key ?? undefined);
  }

  /** The switch to v2: from now on the root covers the firmware values. */
  upgrade(): void {
    if (this.versionNow === 2) return;
    this.firmware.moveTo(this.tree);
    this.versionNow = 2;
  }

  root(): Hash {
    this.firmware.settle();
    return this.tree.rootHash();
  }

  snapshot(): UnitHistorySnapshot {
    this.firmware.settle();
    return this.units.snapshot();
  }
}

/** What a stored map's owner records at each flush to open it again (CommittedMap.open). */
export interface StoredCommittedMap {
  readonly size: number;
  readonly version: MapCommitmentVersion;
  readonly map: MptStoredTree;
  /** The firmware values' own tree before the v2 switch (null from it on: they are in `map`). */
  readonly firmware: MptStoredTree | null;
}

export interface FirmwareUnitsReport {
  readonly sha256: string;
  readonly now: number;
  readonly ever: number;
}

/**
 * Checks that `now` and `formerly` are exactly the serials the map holds for `sha256` under `mapRoot` (which the
 * caller has tied to a signed checkpoint, §15.3): the proof shows the digest's value (or its absence, when both
 * lists are empty and value is null), and the lists rebuild its set root. Throws FIRMWARE_UNITS_INCOMPLETE.
 */
export function verifyFirmwareUnits(sha256: string, now: readonly string[], formerly: readonly string[], value: Uint8Array | null, proof: Uint8Array, mapRoot: Hash, crypto: CryptoBackend = portableCrypto): FirmwareUnitsReport {
  const key = firmwareKey(sha256, crypto);
  const where = { field: 'firmware.proof' };
  if (!verifyLookup(mapRoot, key, value, proof, crypto)) {
    throw new VerificationError('FIRMWARE_UNITS_INCOMPLETE', 'firmware', `the map proof does not show ${value === null ? 'the absence of' : 'this value for'} firmware ${sha256.slice(0, 16)}… under map root ${toHex(mapRoot).slice(0, 16)}…`, where);
  }
  if (value === null) {
    if (now.length + formerly.length > 0) throw new VerificationError('FIRMWARE_UNITS_INCOMPLETE', 'firmware', `the map holds no unit for firmware ${sha256.slice(0, 16)}…, yet the answer names ${now.length + formerly.length}`, { field: 'serials' });
    return { sha256, now: 0, ever: 0 };
  }
  const v = decodeFirmwareValue(value);
  const dup = new Set([...now, ...formerly]).size !== now.length + formerly.length;
  if (dup || v.now !== now.length || v.ever !== now.length + formerly.length || toHex(firmwareSetRoot(now, formerly, crypto)) !== toHex(v.setRoot)) {
    throw new VerificationError(
      'FIRMWARE_UNITS_INCOMPLETE',
      'firmware',
      `firmware ${sha256.slice(0, 16)}…: the map holds ${v.now} unit(s) carrying it now and ${v.ever - v.now} that carried it before; the answer names ${now.length} and ${formerly.length}${dup ? ' (with a serial twice)' : v.now === now.length && v.ever === now.length + formerly.length ? ', but other serials (one was replaced or moved)' : ''}`,
      { field: 'serials' },
    );
  }
  return { sha256, now: v.now, ever: v.ever };
}

export interface FirmwareEvidenceReport extends FirmwareUnitsReport {
  /** Complete as of this ledger checkpoint. */
  readonly size: number;
  readonly indexSize: number;
  readonly serialsNow: readonly string[];
  readonly serialsFormerly: readonly string[];
  readonly indexWitnesses?: WitnessReport;
}

/**
 * A saved or served `flashtrail.firmware-units.v1` answer (docs/format.md §15.6), in order: its shape
 * (FORMAT_ERROR); the ledger checkpoint under the pinned ledger key (CHECKPOINT_SIGNATURE_ERROR); the map root's
 * commitment in the index log under the pinned index log key, which must be a v2 leaf (§15.5 steps 1–2;
 * FIRMWARE_UNITS_INCOMPLETE for a units-only v1 root); the digest's value or absence and both serial lists
 * (FIRMWARE_UNITS_INCOMPLETE naming what differs).
 */
export function verifyFirmwareEvidence(input: unknown, ledgerKey: NoteKey, mapKey: NoteKey, crypto: CryptoBackend = portableCrypto, options: HistoryCheckOptions = {}): FirmwareEvidenceReport {
  const parsed = FirmwareUnitsAnswer.safeParse(input);
  if (!parsed.success) throw historyFormatError(parsed.error, 'firmware answer', {});
  const answer = parsed.data;
  let checkpoint: Checkpoint;
  try {
    checkpoint = parseCheckpointBody(verifyNote(answer.checkpoint, [ledgerKey], crypto).text);
  } catch (error) {
    if (error instanceof NoteError) throw new VerificationError('CHECKPOINT_SIGNATURE_ERROR', 'firmware', `the answer's ledger checkpoint is not signed by the pinned ledger key ${ledgerKey.name}: ${error.message}`, { field: 'checkpoint' });
    if (error instanceof CheckpointFormatError) throw new VerificationError('FORMAT_ERROR', 'firmware', `ledger checkpoint: ${error.message}`, { field: 'checkpoint' });
    throw error;
  }
  const committed = verifyMapCommitment(answer.firmware, checkpoint, mapKey, crypto, options, { field: 'firmware' }, `firmware ${answer.sha256.slice(0, 16)}…: `);
  if (committed.version !== 2) {
    throw new VerificationError('FIRMWARE_UNITS_INCOMPLETE', 'firmware', `the index log commits a units-only (v1) map root for checkpoint ${checkpoint.size}: it holds no firmware key, so no answer is proved by it`, { field: 'firmware.commitment' });
  }
  const value = answer.firmware.value === null ? null : fromBase64(answer.firmware.value);
  const report = verifyFirmwareUnits(answer.sha256, answer.now, answer.formerly, value, fromBase64(answer.firmware.proof), fromHex(answer.firmware.mapRoot), crypto);
  return { ...report, size: checkpoint.size, indexSize: committed.indexSize, serialsNow: answer.now, serialsFormerly: answer.formerly, ...(committed.indexWitnesses ? { indexWitnesses: committed.indexWitnesses } : {}) };
}

export const firmwareEvidenceDetail = (r: FirmwareEvidenceReport): string =>
  `firmware ${r.sha256}: complete as of checkpoint ${r.size} (index log tree ${r.indexSize}): ${r.now} unit(s) carry it now${r.serialsNow.length ? ` (${r.serialsNow.join(', ')})` : ''}, ${r.ever - r.now} carried it formerly${r.serialsFormerly.length ? ` (${r.serialsFormerly.join(', ')})` : ''}${r.indexWitnesses ? `; index checkpoint quorum ${r.indexWitnesses.quorum} met` : ''}`;

/**
 * Whether a unit's events, in stream order, leave it carrying `sha256` now, carried formerly, or never: the
 * mapping function above applied to one unit (the last digest each slot reported). A v5 export (docs/format.md
 * §7.6.3) holds it against the list its firmware answer puts the unit's serial in.
 */
export function carriesOfEvents(events: Iterable<{ readonly type: string; readonly data: unknown }>, sha256: string): 'now' | 'formerly' | null {
  const slots = new Map<string, string>();
  let ever = false;
  for (const e of events) {
    for (const r of reportedImagesOfEvent(e.type, e.data as Record<string, unknown>)) {
      slots.set(r.slot, r.sha256);
      if (r.sha256 === sha256) ever = true;
    }
  }
  if ([...slots.values()].includes(sha256)) return 'now';
  return ever ? 'formerly' : null;
}
