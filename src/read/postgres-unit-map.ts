/**
 * The unit history map's state on a shared PostgreSQL log (docs/shared-log.md §1): tables beside `merkle_*` in
 * the ledger's schema, written by the elected log writer only, through the session that holds its lock
 * (PostgresMerkleLog.writeOnSession), so that a deposed writer's writes fail instead of racing its successor.
 *
 *   unit_map_meta         format and index_key (pinned, insert-only); size, position, range, version,
 *                         checkpoint_revision (updated with every commitment)
 *   unit_map_units        each unit's history as of the last commitment (upserted)
 *   unit_map_slots        what each unit's firmware slot carries (upserted)
 *   unit_map_firmware     every firmware membership change, by leaf (inserted)
 *   unit_map_ledger_notes the ledger checkpoint each commitment is for (inserted)
 *   unit_map_commitments  the index log's leaves (append-only: triggers and REVOKE, as the Merkle tables)
 *   unit_map_checkpoints  every index checkpoint signed (append-only)
 *
 * One transaction per commitment. It first locks `checkpoint_revision` and requires the value this writer
 * persisted last (another writer advanced the state meanwhile: reload instead of committing), and a commitment
 * index already present must hold the very same leaf (a successor re-deriving what its predecessor committed);
 * a different one is a fork and takes the map out of service.
 *
 * Every other instance derives the map itself from the shared event store (the mapping is deterministic,
 * docs/format.md §15) and uses these tables only to check its derivation: each commitment it derives must equal
 * the writer's of that index, and it serves only an index checkpoint that its own index tree reproduces.
 */
import pg from 'pg';
import { advisoryLockKey, type PostgresEventStore } from '../store/postgres.ts';
import type { PostgresMerkleLog } from './postgres-merkle-log.ts';
import { LedgerIdentityMismatchError } from './postgres-merkle-log.ts';
import { SHARED_UNIT_MAP_FORMAT as UNIT_MAP_FORMAT, UnitMapError, type PersistedUnitMap, type UnitMapCommit, type UnitMapStorage } from './unit-map-storage.ts';
import type { MapCommitmentVersion } from '../verify/map-commitment.ts';
import { parseCheckpointBody } from '../tlog/checkpoint.ts';
import { parseNote } from '../tlog/note.ts';

/** The writer's state changed under it (another writer committed meanwhile): reload, then go on. */
export class UnitMapStateMovedError extends Error {
  override readonly name = 'UnitMapStateMovedError';
}

type MutableMeta = 'size' | 'position' | 'range' | 'version' | 'checkpoint_revision';

export interface PostgresUnitMapOptions {
  /** How long a reader waits for the writer to sign an index checkpoint it needs, in ms. */
  readonly waitForWriterMs?: number;
}

export class PostgresUnitMapStorage implements UnitMapStorage {
  readonly where: string;
  readonly mustRebuild = null;
  /** The checkpoint_revision this process persisted or loaded last: what a commit expects to find. */
  private persistedRevision: string | null = null;
  readonly commitmentChannel: string;
  readonly wantedChannel: string;
  private readonly waitForWriterMs: number;
  private readonly unlisten: (() => void)[] = [];

  private constructor(
    private readonly store: PostgresEventStore,
    private readonly log: PostgresMerkleLog,
    options: PostgresUnitMapOptions,
  ) {
    this.where = `the unit map tables of PostgreSQL schema ${store.schema}`;
    this.commitmentChannel = `flashtrail_unit_map_${store.schema}`;
    this.wantedChannel = `flashtrail_unit_map_wanted_${store.schema}`;
    this.waitForWriterMs = options.waitForWriterMs ?? 15_000;
  }

  /**
   * Creates the tables (once, under the schema lock) and pins the index log's verifier key: the first instance
   * records it, every later one must present the same (LedgerIdentityMismatchError naming both).
   */
  static async open(store: PostgresEventStore, log: PostgresMerkleLog, indexVerifierKey: string, options: PostgresUnitMapOptions = {}): Promise<PostgresUnitMapStorage> {
    const storage = new PostgresUnitMapStorage(store, log, options);
    await storage.create(indexVerifierKey);
    return storage;
  }

  private t(name: string): string {
    return this.store.table(name);
  }

  private async create(indexVerifierKey: string): Promise<void> {
    await this.store.ensureSchema();
    const s = pg.escapeIdentifier(this.store.schema);
    await this.store.transaction(async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1)', [advisoryLockKey(this.store.schema, 'schema')]);
      const exists = await c.query<{ t: string | null }>('SELECT to_regclass($1) AS t', [this.t('unit_map_meta')]);
      if (!exists.rows[0]?.t) {
        await c.query(`
          CREATE TABLE ${this.t('unit_map_meta')} (key text PRIMARY KEY, value text NOT NULL);
          CREATE TABLE ${this.t('unit_map_units')} (serial text PRIMARY KEY, count integer NOT NULL CHECK (count > 0), last_leaf bigint NOT NULL CHECK (last_leaf >= 0), chain bytea NOT NULL CHECK (length(chain) = 32));
          CREATE TABLE ${this.t('unit_map_slots')} (serial text NOT NULL, slot text NOT NULL, sha256 text NOT NULL, PRIMARY KEY (serial, slot));
          CREATE TABLE ${this.t('unit_map_firmware')} (sha256 text NOT NULL, serial text NOT NULL, leaf bigint NOT NULL, now boolean NOT NULL, PRIMARY KEY (sha256, serial, leaf));
          CREATE TABLE ${this.t('unit_map_ledger_notes')} (size bigint PRIMARY KEY, note text NOT NULL);
          CREATE TABLE ${this.t('unit_map_commitments')} (idx bigint PRIMARY KEY CHECK (idx >= 0), size bigint NOT NULL UNIQUE, leaf text NOT NULL);
          CREATE TABLE ${this.t('unit_map_checkpoints')} (size bigint PRIMARY KEY CHECK (size > 0), note text NOT NULL, signed_at text NOT NULL);
        `);
        for (const table of ['unit_map_commitments', 'unit_map_checkpoints']) {
          await c.query(`
            CREATE OR REPLACE TRIGGER ${table}_append_only BEFORE UPDATE OR DELETE ON ${this.t(table)} FOR EACH ROW EXECUTE FUNCTION ${s}.refuse_change();
            CREATE OR REPLACE TRIGGER ${table}_no_truncate BEFORE TRUNCATE ON ${this.t(table)} FOR EACH STATEMENT EXECUTE FUNCTION ${s}.refuse_change();
            REVOKE UPDATE, DELETE, TRUNCATE ON ${this.t(table)} FROM PUBLIC, CURRENT_USER;
          `);
        }
        await c.query(`INSERT INTO ${this.t('unit_map_meta')} (key, value) VALUES ('format', $1), ('checkpoint_revision', '0')`, [UNIT_MAP_FORMAT]);
      }
      const meta = new Map((await c.query<{ key: string; value: string }>(`SELECT key, value FROM ${this.t('unit_map_meta')} WHERE key IN ('format', 'index_key')`)).rows.map((r) => [r.key, r.value]));
      if (meta.get('format') !== UNIT_MAP_FORMAT) throw new UnitMapError(`the unit map in PostgreSQL schema ${this.store.schema} has format ${meta.get('format') ?? 'none'}, not ${UNIT_MAP_FORMAT}; nothing was changed`);
      const pinned = meta.get('index_key');
      if (pinned === undefined) await c.query(`INSERT INTO ${this.t('unit_map_meta')} (key, value) VALUES ('index_key', $1)`, [indexVerifierKey]);
      else if (pinned !== indexVerifierKey) {
        throw new LedgerIdentityMismatchError(
          `the unit map's index log in PostgreSQL schema ${this.store.schema} is signed by ${pinned}, but this instance's unit-map.key is ${indexVerifierKey}: give every instance the same unit-map.key`,
        );
      }
    });
  }

  writable(): boolean {
    return this.log.isWriter;
  }

  /** The state as of the last commitment, read in one snapshot (REPEATABLE READ): never half of a commitment. */
  async load(): Promise<PersistedUnitMap> {
    const client = await this.store.pool.connect();
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const meta = new Map((await client.query<{ key: string; value: string }>(`SELECT key, value FROM ${this.t('unit_map_meta')}`)).rows.map((r) => [r.key, r.value]));
      const units = await client.query<{ serial: string; count: number; last_leaf: string; chain: Buffer }>(`SELECT serial, count, last_leaf, chain FROM ${this.t('unit_map_units')}`);
      const slots = await client.query<{ serial: string; slot: string; sha256: string }>(`SELECT serial, slot, sha256 FROM ${this.t('unit_map_slots')}`);
      const members = await client.query<{ sha256: string; serial: string; now: boolean }>(
        `SELECT DISTINCT ON (sha256, serial) sha256, serial, now FROM ${this.t('unit_map_firmware')} ORDER BY sha256, serial, leaf DESC`,
      );
      const commitments = await client.query<{ size: string; leaf: string }>(`SELECT size, leaf FROM ${this.t('unit_map_commitments')} ORDER BY idx`);
      await client.query('COMMIT');
      this.persistedRevision = meta.get('checkpoint_revision') ?? '0';
      return {
        size: Number(meta.get('size') ?? '0'),
        version: Number(meta.get('version') ?? '1') as MapCommitmentVersion,
        units: units.rows.map((r) => [r.serial, { count: r.count, lastLeaf: Number(r.last_leaf), chain: new Uint8Array(r.chain) }] as const),
        slots: slots.rows,
        members: members.rows.map((r) => ({ digest: r.sha256, serial: r.serial, now: r.now })),
        range: meta.get('range') ?? '[]',
        position: BigInt(meta.get('position') ?? '-1'),
        commitments: commitments.rows.map((r) => ({ size: Number(r.size), leaf: r.leaf })),
        checkpointRevision: BigInt(this.persistedRevision),
      };
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  async commit(c: UnitMapCommit, asWriter: boolean): Promise<void> {
    if (!asWriter) return this.checkAgainstWriter(c);
    await this.inWriterTransaction(async (session) => {
      const stored = await session.query<{ idx: string; leaf: string }>(`SELECT idx, leaf FROM ${this.t('unit_map_commitments')} WHERE idx = $1 OR idx = $1 - 1`, [c.index]);
      const existing = stored.rows.find((r) => Number(r.idx) === c.index)?.leaf;
      if (existing !== undefined && existing !== c.leaf) throw forkAt(c.index, existing, c.leaf);
      // No gap in the index log, whatever happened in memory: leaf i is appended only after leaf i - 1.
      if (c.index > 0 && !stored.rows.some((r) => Number(r.idx) === c.index - 1)) {
        throw new UnitMapStateMovedError(`index log leaf ${c.index} would follow no leaf ${c.index - 1} in schema ${this.store.schema}; reloading`);
      }
      await session.query(
        `INSERT INTO ${this.t('unit_map_units')} (serial, count, last_leaf, chain) SELECT * FROM unnest($1::text[], $2::integer[], $3::bigint[], $4::bytea[])
         ON CONFLICT (serial) DO UPDATE SET count = excluded.count, last_leaf = excluded.last_leaf, chain = excluded.chain`,
        [c.units.map(([serial]) => serial), c.units.map(([, h]) => h.count), c.units.map(([, h]) => h.lastLeaf), c.units.map(([, h]) => Buffer.from(h.chain))],
      );
      await session.query(
        `INSERT INTO ${this.t('unit_map_slots')} (serial, slot, sha256) SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) ON CONFLICT (serial, slot) DO UPDATE SET sha256 = excluded.sha256`,
        [c.firmware.slots.map((f) => f.serial), c.firmware.slots.map((f) => f.slot), c.firmware.slots.map((f) => f.sha256)],
      );
      await session.query(
        `INSERT INTO ${this.t('unit_map_firmware')} (sha256, serial, leaf, now) SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::boolean[]) ON CONFLICT DO NOTHING`,
        [c.firmware.members.map((m) => m.digest), c.firmware.members.map((m) => m.serial), c.firmware.members.map((m) => m.leaf), c.firmware.members.map((m) => m.now)],
      );
      await session.query(`INSERT INTO ${this.t('unit_map_ledger_notes')} (size, note) VALUES ($1, $2) ON CONFLICT (size) DO NOTHING`, [c.size, c.ledgerNote]);
      if (existing === undefined) await session.query(`INSERT INTO ${this.t('unit_map_commitments')} (idx, size, leaf) VALUES ($1, $2, $3)`, [c.index, c.size, c.leaf]);
      await this.setMeta(session, { size: String(c.size), position: String(c.position), range: c.range, version: String(c.version), checkpoint_revision: String(c.checkpointRevision) });
      await session.query('SELECT pg_notify($1, $2)', [this.commitmentChannel, String(c.index)]);
    });
    this.persistedRevision = String(c.checkpointRevision);
  }

  /** A reader's derived commitment must be the writer's of that index, where the writer got there already. */
  private async checkAgainstWriter(c: UnitMapCommit): Promise<void> {
    const { rows } = await this.store.pool.query<{ leaf: string }>(`SELECT leaf FROM ${this.t('unit_map_commitments')} WHERE idx = $1`, [c.index]);
    const stored = rows[0]?.leaf;
    if (stored !== undefined && stored !== c.leaf) throw forkAt(c.index, stored, c.leaf);
  }

  /** Checkpoint records that do not grow the map are consumed again after a reload: nothing to persist. */
  consumed(): Promise<void> {
    return Promise.resolve();
  }

  /** The writer forgets the derived state (units, slots, firmware, notes) to rewrite it; commitments stay and are compared. */
  async reset(asWriter: boolean): Promise<void> {
    if (!asWriter) return;
    await this.inWriterTransaction(async (session) => {
      for (const table of ['unit_map_units', 'unit_map_slots', 'unit_map_firmware', 'unit_map_ledger_notes']) await session.query(`DELETE FROM ${this.t(table)}`);
      await this.setMeta(session, { size: '0', position: '-1', range: '[]', version: '1', checkpoint_revision: '0' });
    });
    this.persistedRevision = '0';
  }

  async recordIndexNote(size: number, note: string): Promise<void> {
    await this.log.writeOnSession(async (session) => {
      await session.query(`INSERT INTO ${this.t('unit_map_checkpoints')} (size, note, signed_at) VALUES ($1, $2, $3) ON CONFLICT (size) DO NOTHING`, [size, note, new Date().toISOString()]);
      await session.query('SELECT pg_notify($1, $2)', [this.commitmentChannel, `checkpoint ${size}`]);
    });
  }

  async signedIndex(maxSize?: number): Promise<string | null> {
    const { rows } =
      maxSize === undefined
        ? await this.store.pool.query<{ note: string }>(`SELECT note FROM ${this.t('unit_map_checkpoints')} ORDER BY size DESC LIMIT 1`)
        : await this.store.pool.query<{ note: string }>(`SELECT note FROM ${this.t('unit_map_checkpoints')} WHERE size <= $1 ORDER BY size DESC LIMIT 1`, [maxSize]);
    return rows[0]?.note ?? null;
  }

  /**
   * A reader that derived commitment `size - 1` waits for the writer's index checkpoint covering it: it asks
   * (NOTIFY, the writer commits at once) and returns when one is signed or after waitForWriterMs.
   */
  async awaitSignedIndex(size: number): Promise<void> {
    const deadline = Date.now() + this.waitForWriterMs;
    let wake: (() => void) | null = null;
    const off = this.store.onNotification(this.commitmentChannel, () => wake?.());
    try {
      for (;;) {
        const newest = await this.signedIndex();
        if (newest !== null && parseCheckpointBody(parseNote(newest).text).size >= size) return;
        if (Date.now() >= deadline) return;
        await this.store.pool.query('SELECT pg_notify($1, $2)', [this.wantedChannel, String(size)]);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 250);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    } finally {
      off();
    }
  }

  /** Calls `handler` when a reader asks for an index checkpoint (the writer then commits at once). */
  onIndexWanted(handler: () => void): void {
    this.unlisten.push(this.store.onNotification(this.wantedChannel, handler));
  }

  onWriterProgress(handler: () => void): void {
    this.unlisten.push(this.store.onNotification(this.commitmentChannel, handler));
  }

  async firmwareMembers(sha256: string, size: number): Promise<{ serial: string; now: boolean }[]> {
    const { rows } = await this.store.pool.query<{ serial: string; now: boolean }>(
      `SELECT DISTINCT ON (serial) serial, now FROM ${this.t('unit_map_firmware')} WHERE sha256 = $1 AND leaf < $2 ORDER BY serial, leaf DESC`,
      [sha256, size],
    );
    return rows;
  }

  async ledgerNote(size: number): Promise<string | null> {
    const { rows } = await this.store.pool.query<{ note: string }>(`SELECT note FROM ${this.t('unit_map_ledger_notes')} WHERE size = $1`, [size]);
    return rows[0]?.note ?? null;
  }

  close(): void {
    for (const off of this.unlisten.splice(0)) off();
  }

  private async inWriterTransaction(body: (session: pg.Client) => Promise<void>): Promise<void> {
    await this.log.writeOnSession(async (session) => {
      await session.query('BEGIN');
      try {
        const { rows } = await session.query<{ value: string }>(`SELECT value FROM ${this.t('unit_map_meta')} WHERE key = 'checkpoint_revision' FOR UPDATE`);
        const found = rows[0]?.value ?? '0';
        if (this.persistedRevision !== null && found !== this.persistedRevision) {
          throw new UnitMapStateMovedError(`the unit map state in schema ${this.store.schema} is at checkpoint record ${found}, not ${this.persistedRevision} as this writer left it: another writer committed meanwhile; reloading`);
        }
        await body(session);
        await session.query('COMMIT');
      } catch (error) {
        await session.query('ROLLBACK').catch(() => undefined);
        throw error;
      }
    });
  }

  private async setMeta(session: pg.Client, values: Partial<Record<MutableMeta, string>>): Promise<void> {
    const entries = Object.entries(values);
    await session.query(`INSERT INTO ${this.t('unit_map_meta')} (key, value) SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, [
      entries.map(([k]) => k),
      entries.map(([, v]) => v),
    ]);
  }
}

function forkAt(index: number, stored: string, derived: string): UnitMapError {
  return new UnitMapError(`index log leaf ${index} in PostgreSQL is ${JSON.stringify(stored)}, but the map derived from the shared log gives ${JSON.stringify(derived)}: the index log would fork`);
}
