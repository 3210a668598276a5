/**
 * Where the unit history map (src/read/unit-map.ts) keeps its state: one small interface, two homes.
 *
 *   - SqliteUnitMapStorage: unit-map.sqlite in the data directory of a single-node ledger (always writable).
 *   - PostgresUnitMapStorage (src/read/postgres-unit-map.ts): tables beside the shared Merkle log, written by
 *     the elected log writer only; every other instance reads them and checks its own derivation against them
 *     (docs/shared-log.md §1).
 *
 * Everything else (the map, compact range, index tree, snapshots, proofs, witnessing) is one copy in
 * UnitMapIndex for both. The SQLite file also keeps the map's trees themselves (src/read/unit-map-nodes.ts),
 * read on use, so that a single-node ledger's memory does not grow with its units; PostgreSQL keeps every
 * unit's history instead and its instances hold the map in memory.
 */
import Database from 'better-sqlite3';
import type { MapCommitmentVersion } from '../verify/map-commitment.ts';
import type { UnitHistory } from '../verify/history-map.ts';
import type { FirmwareMembership, FirmwareSlot } from '../verify/firmware-map.ts';
import { NODE_SCHEMA, SqliteUnitMapNodes, type UnitMapNodeSink } from './unit-map-nodes.ts';

/** unit-map.sqlite: the map's trees on disk (map_nodes), no copy of each unit's history. */
export const UNIT_MAP_FORMAT = 'flashtrail-unit-map-v3';
/** The unit map tables of a shared PostgreSQL log (every unit's history; the map held in memory). */
export const SHARED_UNIT_MAP_FORMAT = 'flashtrail-unit-map-v2';
/** Files of earlier releases, rebuilt from the event store on open (their index log leaves reproduce, §15.3): why. */
const PREVIOUS_UNIT_MAP_FORMATS: Record<string, string> = {
  'flashtrail-unit-map-v1': 'the unit map file is of the units-only format: rebuilt from the event store (its index log leaves reproduce)',
  'flashtrail-unit-map-v2': 'the unit map file holds the map in memory form (every unit\'s history, no tree on disk): rebuilt from the event store (its index log leaves reproduce)',
};

export class UnitMapError extends Error {
  override readonly name = 'UnitMapError';
}

/** The state as persisted at the last commitment. */
export interface PersistedUnitMap {
  readonly size: number;
  readonly version: MapCommitmentVersion;
  readonly units: readonly (readonly [string, UnitHistory])[];
  readonly slots: readonly FirmwareSlot[];
  /** Per (digest, serial), its newest membership change. */
  readonly members: readonly Omit<FirmwareMembership, 'leaf'>[];
  /** The compact range of the leaves consumed, as CompactRange.toJson. */
  readonly range: string;
  readonly position: bigint;
  readonly commitments: readonly { size: number; leaf: string }[];
  readonly checkpointRevision: bigint;
  /** Set when a catch-up persisted part of its changes (UnitMapStorage.stage) and stopped before its commitment. */
  readonly partial?: boolean;
}

/** Changes of a long catch-up persisted before its commitment, so that memory does not hold them all. */
export interface UnitMapStaged {
  readonly units: readonly (readonly [string, UnitHistory])[];
  readonly firmware: { readonly slots: readonly FirmwareSlot[]; readonly members: readonly FirmwareMembership[] };
  /** With a node store: writes the trees' changed nodes (CommittedMap.flush) in the same transaction. */
  readonly nodes?: (sink: UnitMapNodeSink) => void;
}

/** One commitment and the state changes since the previous one: persisted whole or not at all. */
export interface UnitMapCommit {
  readonly index: number;
  readonly size: number;
  readonly leaf: string;
  readonly units: readonly (readonly [string, UnitHistory])[];
  readonly firmware: { readonly slots: readonly FirmwareSlot[]; readonly members: readonly FirmwareMembership[] };
  /** With a node store: writes the trees' changed nodes (CommittedMap.flush) in the same transaction. */
  readonly nodes?: (sink: UnitMapNodeSink) => void;
  readonly version: MapCommitmentVersion;
  /** The ledger checkpoint the commitment is for, as signed. */
  readonly ledgerNote: string;
  readonly position: bigint;
  readonly range: string;
  readonly checkpointRevision: bigint;
}

export interface UnitMapStorage {
  /** Names the state in messages (a file, a schema). */
  readonly where: string;
  /** Set when the persisted state is of an older format and must be rebuilt from the event store: why. */
  readonly mustRebuild: string | null;
  /**
   * Where the map's trees live when they are kept on disk (the SQLite file): load() then returns no units,
   * slots nor members, and the map is opened from the trees instead. Absent: the map is held in memory.
   */
  readonly nodes?: SqliteUnitMapNodes;
  /** Whether this process may change the state and sign index checkpoints now (the log writer, on a shared log). */
  writable(): boolean;
  load(): Promise<PersistedUnitMap>;
  /**
   * Persists a commitment (`asWriter`: the pass began as the writer) or, for a reader, checks it against the
   * writer's commitment of that index when there is one (UnitMapError when they differ). The role is the one the
   * pass began with, never re-read in the middle of it: a reader elected mid-pass has not persisted what it derived.
   */
  commit(commit: UnitMapCommit, asWriter: boolean): Promise<void>;
  /**
   * Persists changes ahead of the commitment they lead to, and marks the state partial until that commitment
   * (a state found partial on load is rebuilt from the event store). Optional: without it, changes wait in
   * memory for the commitment.
   */
  stage?(changes: UnitMapStaged): Promise<void>;
  /** A checkpoint record that did not grow the map was consumed. */
  consumed(checkpointRevision: bigint): Promise<void>;
  /** Forgets the derived state (never the signed index checkpoints, nor a shared log's commitments); a reader's is in memory only. */
  reset(asWriter: boolean): Promise<void>;
  recordIndexNote(size: number, note: string): Promise<void>;
  /** The newest signed index checkpoint, or the newest of at most `maxSize` leaves. */
  signedIndex(maxSize?: number): Promise<string | null>;
  /** Serials with their newest membership change for `sha256` before leaf `size`. */
  firmwareMembers(sha256: string, size: number): Promise<{ serial: string; now: boolean }[]>;
  /** The ledger checkpoint note committed for `size`. */
  ledgerNote(size: number): Promise<string | null>;
  /** A reader waits (bounded) until the writer signed an index checkpoint of at least `size` leaves. */
  awaitSignedIndex?(size: number): Promise<void>;
  /** The writer hears a reader asking for an index checkpoint. */
  onIndexWanted?(handler: () => void): void;
  /** A reader hears the writer commit or sign, to follow at once rather than on its next timer tick. */
  onWriterProgress?(handler: () => void): void;
  close(): void | Promise<void>;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS map_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS map_commitments (idx INTEGER PRIMARY KEY, size INTEGER NOT NULL UNIQUE, leaf TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS map_ledger_notes (size INTEGER PRIMARY KEY, note TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS map_slots (serial TEXT NOT NULL, slot TEXT NOT NULL, sha256 TEXT NOT NULL, PRIMARY KEY (serial, slot)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS map_firmware (sha256 TEXT NOT NULL, serial TEXT NOT NULL, leaf INTEGER NOT NULL, now INTEGER NOT NULL, PRIMARY KEY (sha256, serial, leaf)) WITHOUT ROWID;
`;

/** unit-map.sqlite: derived data of a single-node ledger, its one writer. */
export class SqliteUnitMapStorage implements UnitMapStorage {
  private readonly db: Database.Database;
  readonly mustRebuild: string | null;
  readonly nodes: SqliteUnitMapNodes;

  constructor(readonly where: string) {
    this.db = new Database(where);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.exec(SCHEMA);
    this.db.exec(NODE_SCHEMA);
    const format = this.meta('format');
    if (format !== null && format !== UNIT_MAP_FORMAT && !(format in PREVIOUS_UNIT_MAP_FORMATS)) {
      this.db.close();
      throw new UnitMapError(`${where} holds a unit map of format ${format}, not ${UNIT_MAP_FORMAT}; it was left unchanged`);
    }
    this.mustRebuild = format !== null && format !== UNIT_MAP_FORMAT ? (PREVIOUS_UNIT_MAP_FORMATS[format] as string) : null;
    // The copy of every unit's history that earlier formats kept: the tree's leaves are the histories now.
    if (this.mustRebuild !== null) this.db.exec('DROP TABLE IF EXISTS map_units');
    this.setMeta('format', UNIT_MAP_FORMAT);
    this.nodes = new SqliteUnitMapNodes(this.db);
  }

  writable(): boolean {
    return true;
  }

  private meta(key: string): string | null {
    return (this.db.prepare('SELECT value FROM map_meta WHERE key = ?').get(key) as { value: string } | undefined)?.value ?? null;
  }

  private setMeta(key: string, value: string): void {
    this.db.prepare('INSERT INTO map_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value);
  }

  /** O(1): the units, slots and memberships stay on disk (the trees are opened from `nodes`). */
  load(): Promise<PersistedUnitMap> {
    return Promise.resolve({
      size: Number(this.meta('size') ?? '0'),
      version: Number(this.meta('version') ?? '1') as MapCommitmentVersion,
      units: [],
      slots: [],
      members: [],
      range: this.meta('range') ?? '[]',
      position: BigInt(this.meta('position') ?? '-1'),
      commitments: this.db.prepare('SELECT size, leaf FROM map_commitments ORDER BY idx').all() as { size: number; leaf: string }[],
      checkpointRevision: BigInt(this.meta('checkpoint_revision') ?? '0'),
      partial: this.meta('partial') !== null,
    });
  }

  private writeChanges(c: UnitMapStaged): void {
    const putSlot = this.db.prepare('INSERT INTO map_slots (serial, slot, sha256) VALUES (?, ?, ?) ON CONFLICT (serial, slot) DO UPDATE SET sha256 = excluded.sha256');
    const putMember = this.db.prepare('INSERT INTO map_firmware (sha256, serial, leaf, now) VALUES (?, ?, ?, ?)');
    // c.units is not written: each unit's history is its leaf in map_nodes.
    c.nodes?.(this.nodes.sink());
    for (const f of c.firmware.slots) putSlot.run(f.serial, f.slot, f.sha256);
    for (const m of c.firmware.members) putMember.run(m.digest, m.serial, m.leaf, m.now ? 1 : 0);
  }

  stage(changes: UnitMapStaged): Promise<void> {
    this.db.transaction(() => {
      this.setMeta('partial', 'a catch-up persisted part of its changes before its commitment');
      this.writeChanges(changes);
    })();
    return Promise.resolve();
  }

  commit(c: UnitMapCommit): Promise<void> {
    this.db.transaction(() => {
      this.writeChanges(c);
      this.db.prepare("DELETE FROM map_meta WHERE key = 'partial'").run();
      this.setMeta('version', String(c.version));
      this.db.prepare('INSERT OR REPLACE INTO map_ledger_notes (size, note) VALUES (?, ?)').run(c.size, c.ledgerNote);
      this.db.prepare('INSERT INTO map_commitments (idx, size, leaf) VALUES (?, ?, ?)').run(c.index, c.size, c.leaf);
      this.setMeta('size', String(c.size));
      this.setMeta('position', String(c.position));
      this.setMeta('range', c.range);
      this.setMeta('checkpoint_revision', String(c.checkpointRevision));
    })();
    return Promise.resolve();
  }

  consumed(checkpointRevision: bigint): Promise<void> {
    this.setMeta('checkpoint_revision', String(checkpointRevision));
    return Promise.resolve();
  }

  reset(): Promise<void> {
    this.nodes.reset();
    this.db.exec("DELETE FROM map_commitments; DELETE FROM map_slots; DELETE FROM map_firmware; DELETE FROM map_ledger_notes; DELETE FROM map_meta WHERE key <> 'format' AND key <> 'index_note';");
    return Promise.resolve();
  }

  recordIndexNote(_size: number, note: string): Promise<void> {
    this.setMeta('index_note', note);
    return Promise.resolve();
  }

  signedIndex(): Promise<string | null> {
    return Promise.resolve(this.meta('index_note'));
  }

  firmwareMembers(sha256: string, size: number): Promise<{ serial: string; now: boolean }[]> {
    const rows = this.db
      .prepare('SELECT f.serial, f.now FROM map_firmware f WHERE f.sha256 = ? AND f.leaf = (SELECT MAX(leaf) FROM map_firmware g WHERE g.sha256 = f.sha256 AND g.serial = f.serial AND g.leaf < ?)')
      .all(sha256, size) as { serial: string; now: number }[];
    return Promise.resolve(rows.map((r) => ({ serial: r.serial, now: r.now === 1 })));
  }

  ledgerNote(size: number): Promise<string | null> {
    return Promise.resolve((this.db.prepare('SELECT note FROM map_ledger_notes WHERE size = ?').get(size) as { note: string } | undefined)?.note ?? null);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
