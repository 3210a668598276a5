/**
 * The unit history map (docs/format.md §15) as the ledger keeps it, and its commitment, the index log.
 *
 *   - The map is built from the event store in $all order, the order of the Merkle log's leaves, one leaf at a
 *     time (O(log n) each: one chain step and one tree path), up to the size of each checkpoint the ledger
 *     signed, and never past the newest one: the map is always "as of" a signed size.
 *   - For the i-th CheckpointIssued of the ledger-checkpoints stream, leaf i of the index log is the text
 *     "flashtrail/map-commitment/v1 / <checkpoint body> / unit-map <map root as of its size>". The index log is
 *     derived from the event store alone (the checkpoints are events, the map follows from the log), so a
 *     rebuild, ours or a monitor's, gives the same leaves and the same index roots.
 *   - Before a commitment is made, the RFC 6962 root of the leaves the map consumed is compared with the
 *     checkpoint's root (a compact range, O(log n) state): the map was built from exactly the signed tree.
 *   - After each pass the index log's checkpoint is signed with its own key (unit-map.key, 0600) and, if the
 *     ledger has one, an ML-DSA-44 line; it is submitted to the ledger's witnesses.
 *
 * Persisted in unit-map.sqlite (derived data): the map's trees themselves (src/read/unit-map-nodes.ts: nodes
 * read on use through a bounded cache, `cacheBytes`, so that memory stays flat as units grow), the consumed
 * size and position, the compact range, the commitment leaves and the latest index checkpoint. On open the
 * stored root must equal the last committed map root, and every node read later is checked against its
 * parent's hash; otherwise (or when a catch-up stopped half-way, `partial`) the whole file is rebuilt from the
 * event store, and a rebuild that does not reproduce the index checkpoint already signed is refused (it would
 * fork). On a shared PostgreSQL log every unit's history is persisted instead and the map held in memory.
 */
import { existsSync } from 'node:fs';
import type { Logger } from 'pino';
import type { EventStore } from '../store/event-store.ts';
import { LEDGER_CHECKPOINT_STREAM } from '../event/streams.ts';
import { decodeTrustedEnvelope } from '../event/codec.ts';
import { nativeCrypto, toBase64Native } from '../native/crypto.ts';
import { leafHash, type Hash } from '../merkle/hash.ts';
import { CompactRange } from '../merkle/compact-range.ts';
import { consistencyProof, inclusionProof, MemoryTree, rootHash } from '../merkle/proofs.ts';
import { bytesEqual, fromHex, toHex, utf8 } from '../crypto/encoding.ts';
import { formatCheckpointBody, parseCheckpointBody } from '../tlog/checkpoint.ts';
import { formatVerifierKey, parseNote, signNote } from '../tlog/note.ts';
import { addMlDsaSignature } from '../tlog/ml-dsa-note.ts';
import { signMlDsa44Native } from '../native/ml-dsa.ts';
import type { MlDsaSigner } from '../crypto/ml-dsa.ts';
import { newSigner, type Signer } from '../crypto/ed25519.ts';
import { readSecretKeyFile, writeSecretKeyFile } from '../files/key-file.ts';
import { formatCommitment, indexLogOrigin, parseCommitment } from '../verify/map-commitment.ts';
import { unitSerialOfEntry, type UnitHistorySnapshot } from '../verify/history-map.ts';
import { CommittedMap, firmwareKey, firmwareOfEntry, splitMembers, type Reported } from '../verify/firmware-map.ts';
import { MptIntegrityError } from '../tlog/mpt.ts';
import type { UnitMapNodeSink } from './unit-map-nodes.ts';
import type { HistoryEvidence, SharedHistoryEvidence, UnitMapProof } from '../../schemas/history.ts';
import type { WitnessSet } from '../witness/client.ts';
import { SqliteUnitMapStorage, UnitMapError, type UnitMapStorage } from './unit-map-storage.ts';
import { nextTurn, SliceSizer } from './event-loop.ts';

export { UNIT_MAP_FORMAT, UnitMapError } from './unit-map-storage.ts';
export const UNIT_MAP_KEY_FILE = 'unit-map.key';

/** The index log's Ed25519 key, created beside ledger.key on first use (mode 0600, never overwritten). */
export function unitMapKey(file: string): Signer {
  if (!existsSync(file)) writeSecretKeyFile(file, newSigner(), 'flashtrail unit map index log key: signs the index log checkpoints');
  return readSecretKeyFile(file);
}

export interface UnitMapOptions {
  readonly store: EventStore;
  /** unit-map.sqlite, for a single-node ledger; or `storage`, where the state lives elsewhere (a shared log). */
  readonly file?: string;
  readonly storage?: UnitMapStorage;
  readonly ledgerOrigin: string;
  readonly key: Signer;
  readonly mlDsaKey?: MlDsaSigner | null;
  readonly witnesses?: Pick<WitnessSet, 'size' | 'cosign'>;
  readonly logger?: Logger;
  readonly clock?: () => Date;
  /** A long catch-up persists its changes every this many changed units and memberships (default STAGE_CHANGES). */
  readonly stageChanges?: number;
  /** With the map's trees on disk (unit-map.sqlite): about how much memory their cached nodes take (default CACHE_BYTES). */
  readonly cacheBytes?: number;
}

/** The default bound of the tree nodes (and units' slots) a map on disk keeps in memory. */
export const CACHE_BYTES = 64 * 1024 * 1024;
/** What one cached tree node costs in the heap, about (bench/unit-map.ts measures it): turns cacheBytes into nodes. */
const NODE_BYTES = 250;
/** What one unit's cached slots cost, about; a sixteenth of the cache goes to them. */
const SLOTS_BYTES = 200;

/** Proofs of older sizes are kept in memory for this many commitments; older ones are rebuilt on request. */
const SNAPSHOTS_KEPT = 16;
/**
 * A long catch-up (the first start over millions of events) persists its changes every this many changed
 * units and memberships rather than hold them all for its one commitment (UnitMapStorage.stage).
 */
const STAGE_CHANGES = 50_000;
/** A catch-up logs its progress every this many leaves. */
const PROGRESS_LEAVES = 100_000;
/** How long an index checkpoint some witness did not cosign is served as it is before they are asked again. */
const WITNESS_RETRY_MS = 10_000;

/** The serial of a unit event's envelope bytes, or null for any other leaf (docs/format.md §15's mapping function). */
export const unitSerialOf = (envelopeBytes: Uint8Array): string | null => unitSerialOfEntry(envelopeBytes, nativeCrypto);

export interface MapCommitmentProof {
  readonly index: number;
  readonly size: number;
  readonly leaf: string;
  readonly proof: Hash[];
  /** The index checkpoint the proof is against. */
  readonly checkpoint: string;
}

export class UnitMapIndex {
  private readonly storage: UnitMapStorage;
  private map!: CommittedMap;
  private range!: CompactRange;
  private position = -1n;
  /** The ledger-checkpoints records consumed (the next revision to read). */
  private checkpointRevision = 0n;
  private commitments: { size: number; leaf: string }[] = [];
  private tree!: MemoryTree;
  private indexNote: string | null = null;
  /** Whether the last pass ran as the state's writer; a reader that becomes the writer reloads the persisted state first. */
  private writing = false;
  /** Set when a pass failed: the in-memory state may be ahead of its commitments, so the persisted one is reloaded first. */
  private reloadNeeded = false;
  /** The newest index checkpoint as the witnesses cosigned it, and whether all did; asked again only after a while. */
  private witnessedNote: { ledgerNote: string; note: string; complete: boolean; at: number } | null = null;
  private witnessing: { ledgerNote: string; done: Promise<string> } | null = null;
  /** The newest index checkpoint's size, parsed once (every document asks for it). */
  private parsedIndexNote: { note: string; size: number } | null = null;
  private readonly snapshots = new Map<number, UnitHistorySnapshot>();
  /** The commitment index of each snapshot served from the stored trees (their replaced nodes are freed after). */
  private readonly storedSnapshots = new Map<number, number>();
  /** A stored node failed its hash check: the next pass rebuilds the map from the event store. */
  private rebuildNeeded = false;
  private running: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;
  /** Why the map is out of service, once it found the log or its own signed checkpoint contradicting it. */
  private broken: string | null = null;
  readonly origin: string;

  private constructor(private readonly options: UnitMapOptions) {
    this.origin = indexLogOrigin(options.ledgerOrigin);
    if (options.storage) this.storage = options.storage;
    else if (options.file !== undefined) this.storage = new SqliteUnitMapStorage(options.file);
    else throw new TypeError('UnitMapIndex needs a file or a storage');
  }

  /** Opens the state, checks it against its own commitments (rebuilding it from the store if it does not hold), and catches up. */
  static async open(options: UnitMapOptions): Promise<UnitMapIndex> {
    const index = new UnitMapIndex(options);
    const { storage } = index;
    try {
      const signed = await storage.signedIndex();
      index.writing = storage.writable();
      if (storage.mustRebuild !== null) {
        options.logger?.info({ where: storage.where }, storage.mustRebuild);
        await index.reset();
      } else if (!(await index.load())) {
        options.logger?.warn({ where: storage.where }, 'the unit map state does not reproduce its own last commitment: rebuilt from the event store');
        await index.reset();
      }
      try {
        await index.catchUp();
        if (signed !== null && index.writing) index.checkSignedIndex(signed);
      } catch (error) {
        if (!(error instanceof UnitMapError)) throw error;
        // Derived data that contradicts the log or its own signed checkpoint: the ledger still serves its log,
        // but claims no completeness (provenance is served as v2) until an operator looks.
        index.broken = error.message;
        options.logger?.error({ where: storage.where }, `${error.message}; the unit history map is out of service`);
      }
      return index;
    } catch (error) {
      await index.close();
      throw error;
    }
  }

  /** The index log's verifier key, what auditors pin beside the ledger's (and witnesses add with witness add-log). */
  get verifierKey(): string {
    return formatVerifierKey(this.origin, this.options.key.publicKey);
  }

  /** Reads the persisted state; false when it does not reproduce the last commitment's map root. */
  private async load(): Promise<boolean> {
    const state = await this.storage.load();
    if (state.partial === true) {
      this.options.logger?.warn({ where: this.storage.where }, 'a catch-up of the unit map stopped after persisting part of its changes, before its commitment');
      return false;
    }
    const nodes = this.storage.nodes;
    this.map = nodes ? this.openStored(state.size, state.version) : CommittedMap.restore(state.size, state.version, state.units, state.slots, state.members, nativeCrypto);
    this.range = CompactRange.fromJson(state.range, nativeCrypto);
    this.position = state.position;
    this.checkpointRevision = state.checkpointRevision;
    this.commitments = state.commitments.map((c) => ({ size: c.size, leaf: c.leaf }));
    this.tree = new MemoryTree(nativeCrypto);
    for (const c of this.commitments) this.tree.append(leafHash(utf8(c.leaf), nativeCrypto));
    this.indexNote = await this.storage.signedIndex(this.tree.size);
    this.dropSnapshots();
    const last = this.commitments[this.commitments.length - 1];
    if (!last) return state.size === 0 && state.units.length === 0 && (!nodes || nodes.empty);
    const committed = parseCommitment(last.leaf);
    if (last.size !== state.size || committed.version !== state.version || !bytesEqual(committed.mapRoot, this.map.root()) || !bytesEqual(committed.checkpoint.root, this.range.root())) return false;
    this.snapshots.set(state.size, this.map.snapshot());
    if (nodes) {
      // Only this snapshot is served now: the nodes earlier ones held can go.
      this.storedSnapshots.set(state.size, this.commitments.length - 1);
      if (this.writing) nodes.free(this.commitments.length - 1);
    }
    return true;
  }

  /** The map as the stored trees hold it (nothing read until used). */
  private openStored(size: number, version: 1 | 2): CommittedMap {
    const nodes = this.storage.nodes!;
    const cache = this.options.cacheBytes ?? CACHE_BYTES;
    return CommittedMap.open(
      { size, version, map: nodes.tree('map'), firmware: version === 2 ? null : nodes.tree('firmware') },
      nodes,
      { slotsOf: (serial) => nodes.slotsOf(serial), setTree: (digest) => nodes.setTree(digest), slotsKept: Math.max(1000, Math.floor(cache / 16 / SLOTS_BYTES)) },
      nativeCrypto,
    );
  }

  private get cacheNodes(): number {
    return Math.max(1000, Math.floor((this.options.cacheBytes ?? CACHE_BYTES) / NODE_BYTES));
  }

  private dropSnapshots(): void {
    for (const s of this.snapshots.values()) s.release?.();
    this.snapshots.clear();
    this.storedSnapshots.clear();
  }

  /**
   * With stored trees: writes the map's changed nodes in the storage's transaction (what `nodes` of a stage or
   * commitment is); the nodes they replaced are recorded against commitment `at`, freed once no snapshot
   * before it is served.
   */
  private flushNodes(at: number): ((sink: UnitMapNodeSink) => void) | undefined {
    if (!this.storage.nodes) return undefined;
    return (sink) => {
      const flushed = this.map.flush((id, row) => sink.node(id, row));
      sink.tree('map', flushed.map);
      if (flushed.firmware) sink.tree('firmware', flushed.firmware);
      for (const [digest, tree] of flushed.sets) sink.tree(`set/${digest}`, tree);
      sink.replaced(flushed.replaced, at);
    };
  }

  /** The histories changed since the last stage or commitment, for a storage that keeps them (not the stored trees: their leaves are). */
  private takeUnits() {
    if (!this.storage.nodes) return this.map.units.takeChanged();
    this.map.units.forgetChanged();
    return [];
  }

  private async reset(): Promise<void> {
    await this.storage.reset(this.writing);
    this.map = this.storage.nodes ? this.openStored(0, 1) : CommittedMap.empty(nativeCrypto);
    this.range = new CompactRange([], nativeCrypto);
    this.position = -1n;
    this.checkpointRevision = 0n;
    this.commitments = [];
    this.tree = new MemoryTree(nativeCrypto);
    this.indexNote = null;
    this.dropSnapshots();
  }

  /** A signed index checkpoint that the (re)built index log does not reproduce is a fork: refuse to go on. */
  private checkSignedIndex(note: string): void {
    const { size, root } = parseCheckpointBody(parseNote(note).text);
    if (size > this.tree.size || !bytesEqual(rootHash(this.tree, size, nativeCrypto), root)) {
      throw new UnitMapError(`the unit map's index log does not reproduce its signed checkpoint of size ${size}: refusing to sign another (${this.storage.where}: restore it from a backup, or investigate the event store)`);
    }
  }

  /** Commits the map for every checkpoint signed since the last pass, then signs the index checkpoint. Passes do not overlap. */
  catchUp(): Promise<void> {
    const pass = this.running.then(() => this.catchUpNow());
    this.running = pass.catch(() => undefined);
    return pass;
  }

  private async catchUpNow(): Promise<void> {
    if (this.broken !== null) throw new UnitMapError(this.broken);
    const { store } = this.options;
    try {
      const writable = this.storage.writable();
      const elected = writable && !this.writing;
      this.writing = writable;
      if (this.rebuildNeeded) {
        this.rebuildNeeded = false;
        this.options.logger?.warn({ where: this.storage.where }, 'a stored node of the unit map does not hash to what its parent holds: rebuilt from the event store');
        await this.reset();
      } else if (this.reloadNeeded || elected) {
        // Just elected: continue from what the writers persisted, not from this process's own derivation, so that
        // the state tables and the commitments stay one sequence (docs/shared-log.md §1.5). After a failed pass the
        // in-memory map may be ahead of its commitments (leaves consumed, commitment not made): reloaded too.
        this.reloadNeeded = false;
        if (!(await this.load())) {
          this.options.logger?.warn({ where: this.storage.where }, 'the unit map state does not reproduce its own last commitment: rebuilt from the event store');
          await this.reset();
        }
      }
      try {
        await this.commitNew(store);
      } catch (error) {
        // A stored node read on the way failed its hash check: derived data, rebuilt at once.
        if (!(error instanceof MptIntegrityError)) throw error;
        this.options.logger?.warn({ where: this.storage.where, err: error.message }, 'a stored node of the unit map does not hash to what its parent holds: rebuilt from the event store');
        await this.reset();
        await this.commitNew(store);
      }
    } catch (error) {
      if (error instanceof UnitMapError) this.broken = error.message;
      else if (error instanceof MptIntegrityError) this.rebuildNeeded = true;
      else this.reloadNeeded = true;
      throw error;
    }
  }

  private async commitNew(store: EventStore): Promise<void> {
    if (this.checkpointRevision > 0n) {
      const [head] = await store.readStream(LEDGER_CHECKPOINT_STREAM, { direction: 'backwards', maxCount: 1 });
      if (!head || head.revision + 1n < this.checkpointRevision) {
        throw new UnitMapError(`the ${LEDGER_CHECKPOINT_STREAM} stream holds ${head ? head.revision + 1n : 0n} records, fewer than the ${this.checkpointRevision} the map committed: it was rewritten`);
      }
    }
    for (;;) {
      const checkpoints = await store.readStream(LEDGER_CHECKPOINT_STREAM, { fromRevision: this.checkpointRevision, maxCount: 100 });
      if (checkpoints.length === 0) break;
      for (const recorded of checkpoints) {
        const { event } = decodeTrustedEnvelope(recorded.data, nativeCrypto);
        if (event.type === 'CheckpointIssued' && event.data.size > this.map.size) {
          await this.advanceTo(event.data.size);
          const root = fromHex(event.data.rootHash);
          if (!bytesEqual(root, this.range.root())) throw new UnitMapError(`the unit map was built from leaves whose root is not that of signed checkpoint ${event.data.size}: the event store and the Merkle log disagree`);
          // The switch point (§15.3): the first committed checkpoint record that carries mapCommitment 2.
          if ('mapCommitment' in event.data && event.data.mapCommitment === 2) this.map.upgrade();
          await this.commit({ origin: event.data.origin, size: event.data.size, root }, recorded.revision + 1n, event.data.note);
        } else {
          this.checkpointRevision = recorded.revision + 1n;
          await this.storage.consumed(this.checkpointRevision);
        }
      }
    }
    if (this.writing) {
      const signed = await this.storage.signedIndex();
      if (signed !== null) this.checkSignedIndex(signed);
      const signedSize = signed === null ? 0 : parseCheckpointBody(parseNote(signed).text).size;
      if (this.tree.size > signedSize) await this.signIndex();
      else this.indexNote = signed;
    } else {
      // A reader serves the writer's newest index checkpoint that its own derivation reproduces, never its own.
      const signed = await this.storage.signedIndex(this.tree.size);
      if (signed !== null) this.checkSignedIndex(signed);
      this.indexNote = signed;
    }
  }

  /** Reads leaves until the map holds `size` of them (O(log n) per leaf), persisting changes in bounded batches on the way. */
  private async advanceTo(size: number): Promise<void> {
    // Requests are served between slices of a backlog (src/read/event-loop.ts).
    const sizer = new SliceSizer(5000);
    const from = this.map.size;
    let reported = from;
    for (let slice = 0; this.map.size < size; slice++) {
      if (slice > 0) await nextTurn();
      const started = performance.now();
      const events = await this.options.store.readAll({ after: this.position, maxCount: Math.min(sizer.size, size - this.map.size) });
      if (events.length === 0) throw new UnitMapError(`the event store has ${this.map.size} events, fewer than signed checkpoint ${size}`);
      for (const e of events) {
        const hash = leafHash(e.data, nativeCrypto);
        this.range.append(hash);
        this.map.append(hash, this.unitOfStored(e.data, e.position));
        this.position = e.position;
      }
      sizer.took(events.length, performance.now() - started);
      if (this.writing && this.storage.stage && this.map.units.pendingChanges + this.map.firmware.pendingChanges >= (this.options.stageChanges ?? STAGE_CHANGES)) {
        await this.storage.stage({ units: this.takeUnits(), firmware: this.map.firmware.takeChanges(), ...this.nodesOf(this.commitments.length) });
        if (this.storage.nodes) this.map.unload(this.cacheNodes);
      }
      if (this.map.size - reported >= PROGRESS_LEAVES) {
        reported = this.map.size;
        this.options.logger?.info({ size: this.map.size, of: size, from }, 'unit map catching up');
      }
    }
  }

  /**
   * Every stored envelope was checked on the way in, so one that no longer decodes was edited in the store: the
   * map cannot say what that leaf is, and goes out of service rather than stop the ledger (the start-up checks
   * and the checkpoint's root, compared before each commitment, say the rest).
   */
  private unitOfStored(bytes: Uint8Array, position: bigint): { serial: string; images: Reported[] } | null {
    try {
      return firmwareOfEntry(bytes, nativeCrypto);
    } catch {
      throw new UnitMapError(`the event at $all position ${position} is not a signed envelope any more: the event store was edited`);
    }
  }

  private async commit(checkpoint: { origin: string; size: number; root: Hash }, nextRevision: bigint, ledgerNote: string): Promise<void> {
    const leaf = formatCommitment({ checkpoint, mapRoot: this.map.root(), version: this.map.version });
    await this.storage.commit(
      {
      index: this.commitments.length,
      size: checkpoint.size,
      leaf,
      units: this.takeUnits(),
      firmware: this.map.firmware.takeChanges(),
      ...this.nodesOf(this.commitments.length),
      version: this.map.version,
      ledgerNote,
      position: this.position,
      range: this.range.toJson(),
      checkpointRevision: nextRevision,
      },
      this.writing,
    );
    this.checkpointRevision = nextRevision;
    this.commitments.push({ size: checkpoint.size, leaf });
    this.tree.append(leafHash(utf8(leaf), nativeCrypto));
    this.keepSnapshot(checkpoint.size, this.map.snapshot(), this.storage.nodes ? this.commitments.length - 1 : null);
    const nodes = this.storage.nodes;
    if (nodes) {
      this.map.unload(this.cacheNodes);
      // Nodes replaced up to the oldest stored snapshot still served are in none of them.
      if (this.writing && this.storedSnapshots.size > 0) nodes.free(Math.min(...this.storedSnapshots.values()));
    }
  }

  /** Serves proofs as of `size` from `snapshot` (`at`: its commitment, when it is of the stored trees); the oldest go past SNAPSHOTS_KEPT. */
  private keepSnapshot(size: number, snapshot: UnitHistorySnapshot, at: number | null): void {
    this.snapshots.get(size)?.release?.();
    this.snapshots.set(size, snapshot);
    if (at !== null) this.storedSnapshots.set(size, at);
    while (this.snapshots.size > SNAPSHOTS_KEPT) {
      const oldest = this.snapshots.keys().next().value as number;
      this.snapshots.get(oldest)?.release?.();
      this.snapshots.delete(oldest);
      this.storedSnapshots.delete(oldest);
    }
  }

  private nodesOf(at: number): { nodes?: (sink: UnitMapNodeSink) => void } {
    const nodes = this.flushNodes(at);
    return nodes ? { nodes } : {};
  }

  private async signIndex(): Promise<void> {
    const size = this.tree.size;
    const body = formatCheckpointBody({ origin: this.origin, size, root: rootHash(this.tree, size, nativeCrypto) });
    const { key, mlDsaKey } = this.options;
    const classical = signNote(body, this.origin, key.secretKey, key.publicKey);
    const now = (this.options.clock ?? (() => new Date()))();
    const note = mlDsaKey ? addMlDsaSignature(classical, this.origin, mlDsaKey, Math.floor(now.getTime() / 1000), signMlDsa44Native) : classical;
    await this.storage.recordIndexNote(size, note);
    this.indexNote = note;
    this.options.logger?.info({ origin: this.origin, size }, 'index log checkpoint signed');
  }

  /** The newest index checkpoint, with the witnesses' cosignatures once they gave them (asked once per checkpoint). */
  async checkpoint(): Promise<string | null> {
    await this.catchUp();
    const note = this.indexNote;
    if (note === null) return null;
    const held = this.cosignedHeld(note);
    if (held !== null) return held;
    const witnesses = this.options.witnesses as NonNullable<UnitMapOptions['witnesses']>;
    if (this.witnessing?.ledgerNote === note) return this.witnessing.done;
    const size = this.tree.size;
    const done = witnesses.cosign(note, size, (from, to) => Promise.resolve(consistencyProof(this.tree, from, to, nativeCrypto))).then(
      (result) => {
        this.witnessedNote = { ledgerNote: note, note: result.note, complete: result.cosignedBy.length === witnesses.size, at: Date.now() };
        return result.note;
      },
      (error: unknown) => {
        this.options.logger?.error({ err: (error as Error).message }, 'witnessing the index log failed; its checkpoint is served with its own signature alone');
        return note;
      },
    );
    const entry = { ledgerNote: note, done: done.finally(() => { if (this.witnessing === entry) this.witnessing = null; }) };
    this.witnessing = entry;
    return entry.done;
  }

  /** What checkpoint() answers for index checkpoint `note` without asking the witnesses (again); null when it would ask. */
  private cosignedHeld(note: string): string | null {
    const witnesses = this.options.witnesses;
    if (!witnesses || witnesses.size === 0) return note;
    const w = this.witnessedNote;
    return w && w.ledgerNote === note && (w.complete || Date.now() - w.at < WITNESS_RETRY_MS) ? w.note : null;
  }

  /** The size an index checkpoint note signs, parsed once per note (every document asks of the same one). */
  private sizeOfIndexNote(note: string): number {
    if (this.parsedIndexNote?.note !== note) this.parsedIndexNote = { note, size: parseCheckpointBody(parseNote(note).text).size };
    return this.parsedIndexNote.size;
  }

  /** The commitment of the map as of ledger checkpoint `size`, with its inclusion proof in the newest index checkpoint. */
  async commitment(size: number): Promise<MapCommitmentProof | null> {
    const signedSize = (note: string | null) => (note === null ? 0 : this.sizeOfIndexNote(note));
    let index = this.commitments.findIndex((c) => c.size === size);
    // Already committed under the index checkpoint held: served without a pass (which reads the store's checkpoint
    // records and the signed index back, on every document otherwise); the timer's passes bring newer commitments.
    const held = this.broken === null && !this.rebuildNeeded && !this.reloadNeeded && this.indexNote !== null && index >= 0 && index < signedSize(this.indexNote) ? this.cosignedHeld(this.indexNote) : null;
    let checkpoint = held ?? (await this.checkpoint());
    index = this.commitments.findIndex((c) => c.size === size);
    if (index >= 0 && index >= signedSize(checkpoint) && !this.writing && this.storage.awaitSignedIndex) {
      // A reader on a shared log derived the commitment before the writer signed an index checkpoint over it.
      await this.storage.awaitSignedIndex(index + 1);
      checkpoint = await this.checkpoint();
      index = this.commitments.findIndex((c) => c.size === size);
    }
    if (checkpoint === null) return null;
    const indexSize = signedSize(checkpoint);
    if (index < 0 || index >= indexSize) return null;
    return { index, size, leaf: (this.commitments[index] as { leaf: string }).leaf, proof: inclusionProof(this.tree, index, indexSize, nativeCrypto), checkpoint };
  }

  /** Every commitment, in index order: what a monitor compares with its own rebuild. */
  committed(): readonly { size: number; leaf: string }[] {
    return this.commitments;
  }

  /** A unit's completeness evidence as of ledger checkpoint `size` (docs/format.md §15), or null when that size was never committed. */
  async historyEvidence(serial: string, size: number): Promise<HistoryEvidence | null> {
    const commitment = await this.commitment(size);
    if (!commitment) return null;
    const snapshot = this.snapshots.get(size) ?? (await this.rebuildAt(size));
    const { value, proof } = this.read(() => snapshot.prove(serial));
    return {
      mapRoot: toHex(snapshot.root()),
      value: value === null ? null : toBase64Native(value),
      proof: toBase64Native(proof),
      commitment: { index: commitment.index, proof: commitment.proof.map((h) => toBase64Native(h)), checkpoint: commitment.checkpoint },
    };
  }

  /**
   * What a flashtrail.export.v4 carries (docs/format.md §7.6.2) as of ledger checkpoint `size`: the map root and
   * its commitment once, and a map proof per unit from one snapshot; null when that size was never committed.
   */
  async exportEvidence(size: number): Promise<{ shared: SharedHistoryEvidence; prove(serial: string): UnitMapProof } | null> {
    const commitment = await this.commitment(size);
    if (!commitment) return null;
    const snapshot = this.snapshots.get(size) ?? (await this.rebuildAt(size));
    return {
      shared: { mapRoot: toHex(snapshot.root()), commitment: { index: commitment.index, proof: commitment.proof.map((h) => toBase64Native(h)), checkpoint: commitment.checkpoint } },
      prove: (serial) => {
        const { value, proof } = this.read(() => snapshot.prove(serial));
        return { value: value === null ? null : toBase64Native(value), proof: toBase64Native(proof) };
      },
    };
  }

  /**
   * The serials carrying firmware `sha256` now and formerly as of ledger checkpoint `size`, with the map proof
   * of its value (or its absence) and the commitment (docs/format.md §15.6); null when that size was never
   * committed, and `version: 1` (no answer) when its commitment is a v1 leaf, which holds no firmware keys.
   */
  async firmwareEvidence(sha256: string, size: number): Promise<
    | { version: 1 }
    | { version: 2; checkpoint: string; now: string[]; formerly: string[]; evidence: { mapRoot: string; value: string | null; proof: string; commitment: HistoryEvidence['commitment'] } }
    | null
  > {
    const commitment = await this.commitment(size);
    if (!commitment) return null;
    if (parseCommitment(commitment.leaf).version !== 2) return { version: 1 };
    const snapshot = this.snapshots.get(size) ?? (await this.rebuildAt(size));
    const { value, proof } = this.read(() => snapshot.lookup(firmwareKey(sha256, nativeCrypto)));
    const rows = await this.storage.firmwareMembers(sha256, size);
    const note = await this.storage.ledgerNote(size);
    if (note === null) return null;
    return {
      version: 2,
      checkpoint: note,
      ...splitMembers(rows.map((r) => [r.serial, r.now] as const)),
      evidence: {
        mapRoot: toHex(snapshot.root()),
        value: value === null ? null : toBase64Native(value),
        proof: toBase64Native(proof),
        commitment: { index: commitment.index, proof: commitment.proof.map((h) => toBase64Native(h)), checkpoint: commitment.checkpoint },
      },
    };
  }

  /** A proof read from the stored trees: a node failing its hash check has the next pass rebuild the map. */
  private read<T>(proof: () => T): T {
    try {
      return proof();
    } catch (error) {
      if (!(error instanceof MptIntegrityError)) throw error;
      this.rebuildNeeded = true;
      this.options.logger?.error({ where: this.storage.where, err: error.message }, 'the unit map cannot serve a proof from its stored trees; it is rebuilt from the event store on its next pass');
      // Served as 503 UNAVAILABLE (the routes' answer to a UnitMapError): the next pass rebuilds the map.
      throw new UnitMapError(`${error.message}: the unit history map is being rebuilt from the event store, retry later`);
    }
  }

  /** The map as of an older committed size, replayed from the event store (O(size)); kept with the others. */
  private async rebuildAt(size: number): Promise<UnitHistorySnapshot> {
    const committed = this.commitments.find((c) => c.size === size);
    const map = CommittedMap.empty(nativeCrypto, committed ? parseCommitment(committed.leaf).version : 1);
    let after = -1n;
    const sizer = new SliceSizer(5000);
    for (let slice = 0; map.size < size; slice++) {
      if (slice > 0) await nextTurn();
      const started = performance.now();
      const events = await this.options.store.readAll({ after, maxCount: Math.min(sizer.size, size - map.size) });
      if (events.length === 0) throw new UnitMapError(`the event store has fewer than ${size} events`);
      for (const e of events) {
        map.append(leafHash(e.data, nativeCrypto), firmwareOfEntry(e.data, nativeCrypto));
        after = e.position;
      }
      sizer.took(events.length, performance.now() - started);
    }
    const snapshot = map.snapshot();
    this.keepSnapshot(size, snapshot, null);
    return snapshot;
  }

  /** Commits on a cadence, as checkpoints are signed. */
  start(intervalMs = 1000): void {
    if (this.timer) return;
    // On a shared log a reader that needs an index checkpoint asks the writer, which commits at once.
    this.storage.onIndexWanted?.(() => {
      if (this.storage.writable()) void this.catchUp().catch((error: unknown) => this.options.logger?.error({ err: (error as Error).message }, 'unit map commitment failed'));
    });
    this.storage.onWriterProgress?.(() => {
      if (!this.storage.writable()) void this.catchUp().catch((error: unknown) => this.options.logger?.error({ err: (error as Error).message }, 'following the unit map failed'));
    });
    this.timer = setInterval(() => {
      void this.catchUp().catch((error: unknown) => this.options.logger?.error({ err: (error as Error).message }, 'unit map commitment failed'));
    }, intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.storage.close();
  }
}
