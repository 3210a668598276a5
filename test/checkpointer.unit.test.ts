/**
 * The checkpointer never signs two checkpoints that contradict each other, whatever happened to the
 * Merkle log file: real SQLite files, edited the way an insider or a bad restore would edit them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteEventStore } from '../src/store/sqlite.ts';
import type { EventStore, ReadStreamOptions } from '../src/store/event-store.ts';
import { MerkleLog } from '../src/read/merkle-log.ts';
import { Checkpointer, CheckpointRefusedError } from '../src/write/checkpointer.ts';
import { newSigner } from '../src/crypto/ed25519.ts';
import { parseCheckpointBody } from '../src/tlog/checkpoint.ts';
import { parseNote } from '../src/tlog/note.ts';
import { verifyConsistency } from '../src/merkle/proofs.ts';
import { LEDGER_CHECKPOINT_STREAM, LEDGER_TRUST_STREAM } from '../src/event/streams.ts';
import { decodeTrustedEnvelope } from '../src/event/codec.ts';

const ORIGIN = 'flashtrail.test/checkpointer';
const ledgerKey = newSigner();

let dir: string;
let store: SqliteEventStore;
let log: MerkleLog;
let opened: { log: MerkleLog }[];

const merkleFile = () => join(dir, 'merkle.sqlite');
const checkpointer = (over: EventStore = store, merkle = log) =>
  new Checkpointer({ store: over, log: merkle, ledgerKey, origin: ORIGIN, clock: () => new Date(), everyEvents: 1000, intervalMs: 60_000 });
const sizeOf = (note: string) => parseCheckpointBody(parseNote(note).text).size;
const rootOf = (note: string) => parseCheckpointBody(parseNote(note).text).root;

async function appendEvents(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await store.appendToStream(`unit-${i % 3}`, [{ id: randomUUID(), type: 'T', data: randomBytes(40) }]);
}

function reopenLog(): MerkleLog {
  log.close();
  log = new MerkleLog(store, merkleFile());
  opened.push({ log });
  return log;
}

/** What an insider with write access to the data directory can do to the derived Merkle log file. */
function editMerkleFile(sql: string): void {
  log.close();
  const db = new Database(merkleFile());
  db.exec(sql);
  db.close();
  log = new MerkleLog(store, merkleFile());
  opened.push({ log });
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'flashtrail-checkpointer-'));
  store = new SqliteEventStore(join(dir, 'events.sqlite'));
  log = new MerkleLog(store, merkleFile());
  opened = [{ log }];
});
afterEach(async () => {
  for (const o of opened) {
    try {
      o.log.close();
    } catch {
      // already closed
    }
  }
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('checkpointer', () => {
  it('signs consistent checkpoints and records each in the Merkle log and in the event store', async () => {
    await appendEvents(5);
    const c = checkpointer();
    const first = await c.issue();
    expect(sizeOf(first)).toBe(5);
    expect(await c.latest()).toBe(first);
    // The CheckpointIssued event is leaf 5; four more events follow it.
    await appendEvents(4);
    const second = await c.issue();
    expect(sizeOf(second)).toBe(10);
    expect(verifyConsistency(5, 10, rootOf(first), rootOf(second), log.consistencyProof(5, 10))).toBe(true);
    const issued = await store.readStream(LEDGER_CHECKPOINT_STREAM);
    expect(issued.map((e) => e.type)).toEqual(['CheckpointIssued', 'CheckpointIssued']);
    expect(log.latestCheckpoint()?.note).toBe(second);
  });

  it('refuses to sign a log smaller than a checkpoint it signed', async () => {
    await appendEvents(4);
    const c = checkpointer();
    const signed = await c.issue();
    // A checkpoint of a bigger tree is on record: e.g. the Merkle log was rebuilt from an older backup.
    log.recordCheckpoint(40, rootOf(signed), signed, new Date().toISOString());
    const before = (await store.readStream(LEDGER_CHECKPOINT_STREAM)).length;
    await appendEvents(1);
    const refused = c.issue();
    await expect(refused).rejects.toBeInstanceOf(CheckpointRefusedError);
    await expect(refused).rejects.toThrow(/log has 6 leaves but checkpoint 40 was already signed/);
    expect((await store.readStream(LEDGER_CHECKPOINT_STREAM)).length).toBe(before);
  });

  it('refuses to sign a tree that is not an extension of the last signed one', async () => {
    await appendEvents(3);
    const c = checkpointer();
    // A signed checkpoint of size 3 whose root is not this tree's root at size 3.
    log.recordCheckpoint(3, randomBytes(32), 'forged note', new Date().toISOString());
    await appendEvents(2);
    await expect(c.issue()).rejects.toBeInstanceOf(CheckpointRefusedError);
    await expect(c.issue()).rejects.toThrow(/tree 5 is not consistent with signed checkpoint 3/);
    expect(await store.readStream(LEDGER_CHECKPOINT_STREAM)).toEqual([]);
  });

  it('refuses a tree whose root changed at a size it signed', async () => {
    await appendEvents(3);
    log.recordCheckpoint(3, randomBytes(32), 'forged note', new Date().toISOString());
    await expect(checkpointer().issue()).rejects.toThrow(/tree 3 has another root than signed checkpoint 3/);
  });

  it('an emptied checkpoint table does not let it sign a fork: the CheckpointIssued record in the event store still binds it', async () => {
    await appendEvents(6);
    const signed = await checkpointer().issue();
    expect(sizeOf(signed)).toBe(6);
    // Delete the table's record and rewrite every stored subtree: a different tree of the same leaves count.
    editMerkleFile('DELETE FROM merkle_checkpoints; UPDATE merkle_nodes SET hash = randomblob(32);');
    expect(log.latestCheckpoint()).toBeNull();
    await expect(checkpointer(store, log).issue()).rejects.toBeInstanceOf(CheckpointRefusedError);
    expect((await store.readStream(LEDGER_CHECKPOINT_STREAM)).length).toBe(1);
  });

  it('refuses when the table and the event store disagree about the root of the same checkpoint', async () => {
    await appendEvents(2);
    await checkpointer().issue();
    editMerkleFile('UPDATE merkle_checkpoints SET root = randomblob(32);');
    await appendEvents(1);
    await expect(checkpointer(store, reopenLog()).issue()).rejects.toThrow(/one root in the Merkle log and another in the event store/);
  });

  it('reads one event of its own streams per checkpoint, however long they are', async () => {
    const reads: { stream: string; options: ReadStreamOptions | undefined }[] = [];
    // The real store, recording how streams are read.
    const recording: EventStore = {
      appendToStream: (...a) => store.appendToStream(...a),
      appendToStreams: (...a) => store.appendToStreams(...a),
      readStream: (stream, options) => {
        reads.push({ stream, options });
        return store.readStream(stream, options);
      },
      readAll: (...a) => store.readAll(...a),
      subscribeToAll: (...a) => store.subscribeToAll(...a),
      headPosition: () => store.headPosition(),
      close: () => store.close(),
    };
    const c = checkpointer(recording);
    await c.recordTrustedAdminKeys(new Map([[ledgerKey.keyId, ledgerKey.publicKey]]));
    for (let i = 0; i < 5; i++) {
      await appendEvents(1);
      await c.issue();
    }
    await c.recordTrustedAdminKeys(new Map([[ledgerKey.keyId, ledgerKey.publicKey]]));
    expect((await store.readStream(LEDGER_CHECKPOINT_STREAM)).length).toBe(5);
    expect((await store.readStream(LEDGER_TRUST_STREAM)).length).toBe(1);
    const own = reads.filter((r) => r.stream === LEDGER_CHECKPOINT_STREAM || r.stream === LEDGER_TRUST_STREAM);
    expect(own.length).toBe(7);
    expect(own.every((r) => r.options?.direction === 'backwards' && r.options.maxCount === 1)).toBe(true);
  });
  describe('at start', () => {
    it('passes when both records agree and the log reproduces them', async () => {
      await appendEvents(4);
      await checkpointer().issue();
      await expect(checkpointer(store, reopenLog()).checkAtStart()).resolves.toBeUndefined();
    });

    it('a checkpoint missing from the Merkle log table (a crash after the event store write, or an emptied table) is recorded again', async () => {
      await appendEvents(4);
      const signed = await checkpointer().issue();
      editMerkleFile('DELETE FROM merkle_checkpoints;');
      await checkpointer(store, log).checkAtStart();
      expect(log.latestCheckpoint()?.note).toBe(signed);
    });

    it('a checkpoint missing from the event store is recorded there again as CheckpointIssued', async () => {
      await appendEvents(4);
      const c = checkpointer();
      const signed = await c.issue();
      await appendEvents(2);
      // A newer checkpoint only the table knows: what an insider who deleted the newest CheckpointIssued row leaves.
      const newer = await c.issue();
      const db = new Database(join(dir, 'events.sqlite'));
      db.exec('DROP TRIGGER IF EXISTS events_append_only_delete');
      db.prepare("DELETE FROM events WHERE position = (SELECT MAX(position) FROM events WHERE stream = 'ledger-checkpoints')").run();
      db.close();
      expect(sizeOf(signed)).toBeLessThan(sizeOf(newer));
      await checkpointer(store, reopenLog()).checkAtStart();
      const issued = await store.readStream(LEDGER_CHECKPOINT_STREAM);
      expect(issued.length).toBe(2);
      const again = decodeTrustedEnvelope((issued.at(-1) as { data: Uint8Array }).data).event;
      expect(again).toMatchObject({ type: 'CheckpointIssued', data: { size: sizeOf(newer), note: newer } });
    });

    it('refuses to start when the two records name different roots for the same size', async () => {
      await appendEvents(3);
      await checkpointer().issue();
      editMerkleFile('UPDATE merkle_checkpoints SET root = randomblob(32);');
      await expect(checkpointer(store, log).checkAtStart()).rejects.toThrow(/refusing to start/);
    });

    it('refuses to start when the Merkle log no longer reproduces the signed checkpoint', async () => {
      await appendEvents(3);
      await checkpointer().issue();
      editMerkleFile('UPDATE merkle_nodes SET hash = randomblob(32);');
      await expect(checkpointer(store, log).checkAtStart()).rejects.toThrow(/the Merkle log's root at size 3 is .* not the root of signed checkpoint 3 .* refusing to start/);
    });

    it('refuses to start when a recorded checkpoint is signed by another key', async () => {
      await appendEvents(3);
      await checkpointer().issue();
      const other = new Checkpointer({ store, log, ledgerKey: newSigner(), origin: ORIGIN, clock: () => new Date(), everyEvents: 1000, intervalMs: 60_000 });
      await expect(other.checkAtStart()).rejects.toThrow(/not signed by this ledger's key.*refusing to start/);
    });
  });
});
