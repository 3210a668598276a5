/**
 * The ledger's own records are signed by the key in force at their leaf (docs/format.md §5.4), even while a key
 * rotation is being appended. The race this pins down: a record's key was chosen (no rotation in the log yet: the
 * replaced key), then the rotation landed, then the record was appended after it — signed by the replaced key at a
 * leaf where the new key is in force, refused by every verifier. Checkpointer.appendRecord takes the key and
 * appends under the lock the rotation's append takes.
 *
 * Deterministic, no sleeps: a real SQLite store, wrapped so that the rotation's append waits, once it is under way,
 * until the concurrent record has either read the rotation stream (the race window opens: the fix is gone) or is
 * waiting for the lock (the fix holds). Then the rotation lands and both finish; every record is checked against
 * the key in force at its leaf.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteEventStore } from '../src/store/sqlite.ts';
import type { EventStore } from '../src/store/event-store.ts';
import { MerkleLog } from '../src/read/merkle-log.ts';
import { fileLedgerLog } from '../src/read/ledger-log.ts';
import { Checkpointer, SerialLock } from '../src/write/checkpointer.ts';
import { newSigner } from '../src/crypto/ed25519.ts';
import { LEDGER_KEY_ROTATIONS_STREAM, LEDGER_TRUST_STREAM } from '../src/event/streams.ts';

const ORIGIN = 'flashtrail.test/record-key';

interface Deferred {
  promise: Promise<void>;
  resolve(): void;
}
function deferred(): Deferred {
  let resolve = () => {};
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** A SerialLock that says when a task is queued behind one still running. */
class WatchedLock extends SerialLock {
  private active = 0;
  readonly queuedBehind = deferred();
  override run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active > 0) this.queuedBehind.resolve();
    this.active++;
    return super.run(task).finally(() => this.active--);
  }
}

let dir: string;
let store: SqliteEventStore;
let log: MerkleLog;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'flashtrail-record-key-'));
  store = new SqliteEventStore(join(dir, 'events.sqlite'));
  log = new MerkleLog(store, join(dir, 'merkle.sqlite'));
});
afterEach(async () => {
  log.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the key of a ledger record appended while a rotation is appended', () => {
  it('is the key in force at its leaf: the record waits for the rotation, then is signed by the new key', async () => {
    for (let i = 0; i < 3; i++) await store.appendToStream(`unit-${i}`, [{ id: randomUUID(), type: 'T', data: randomBytes(40) }]);
    const oldKey = newSigner();
    const newKey = newSigner();
    const lock = new WatchedLock();

    // The hooks: armed when the rotation's append starts, they watch the record's reads and hold the rotation.
    let rotationUnderWay = false;
    const recordReadRotations = deferred();
    const rotationLanded = deferred();
    let startRecord: () => void = () => {};
    const hooked: EventStore = new Proxy(store, {
      get(target, name, receiver) {
        if (name === 'readStream') {
          return async (stream: string, options?: Parameters<EventStore['readStream']>[1]) => {
            const read = await target.readStream(stream, options);
            if (rotationUnderWay && stream === LEDGER_KEY_ROTATIONS_STREAM) recordReadRotations.resolve();
            return read;
          };
        }
        if (name === 'appendToStream') {
          return async (stream: string, events: Parameters<EventStore['appendToStream']>[1], options?: Parameters<EventStore['appendToStream']>[2]) => {
            if (stream === LEDGER_KEY_ROTATIONS_STREAM && !rotationUnderWay) {
              rotationUnderWay = true;
              startRecord();
              // The record either reads the rotation stream now (its key chosen before the rotation lands) or is
              // queued behind the rotation on the lock.
              await Promise.race([recordReadRotations.promise, lock.queuedBehind.promise]);
              const result = await target.appendToStream(stream, events, options);
              rotationLanded.resolve();
              return result;
            }
            // A record whose key was chosen in the window lands after the rotation, as it would on a busy ledger.
            if (stream === LEDGER_TRUST_STREAM && rotationUnderWay) await rotationLanded.promise;
            return target.appendToStream(stream, events, options);
          };
        }
        if (name === 'appendToStreams') {
          return async (requests: Parameters<EventStore['appendToStreams']>[0]) => {
            if (requests[0]?.stream === LEDGER_TRUST_STREAM && rotationUnderWay) await rotationLanded.promise;
            return target.appendToStreams(requests);
          };
        }
        const value: unknown = Reflect.get(target, name, receiver);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const checkpointer = new Checkpointer({ store: hooked, log: fileLedgerLog(log), ledgerKey: newKey, rotatedFrom: oldKey, origin: ORIGIN, clock: () => new Date(), everyEvents: 1000, intervalMs: 60_000, recordLock: lock });

    let record: Promise<void> = Promise.resolve();
    startRecord = () => {
      record = checkpointer.recordTrustedAdminKeys(new Map([['admin-1', newSigner().publicKey]]));
    };
    await checkpointer.announceLedgerKeyRotation(oldKey);
    await record;

    await log.catchUp();
    const [rotation] = await store.readStream(LEDGER_KEY_ROTATIONS_STREAM);
    const [trusted] = await store.readStream(LEDGER_TRUST_STREAM);
    const leaves = await fileLedgerLog(log).leavesOfPositions([rotation!.position, trusted!.position]);
    const rotationLeaf = leaves.get(rotation!.position)!.index;
    const recordLeaf = leaves.get(trusted!.position)!.index;
    const signedBy = (data: Uint8Array) => (JSON.parse(new TextDecoder().decode(data)) as { signatures: { keyid: string }[] }).signatures.map((s) => s.keyid);
    // The rotation is signed by the key it replaces; the record comes after it and is the new key's, the key in
    // force at its leaf (§5.4) — not the replaced key it would have been signed with in the race.
    expect(signedBy(rotation!.data)).toEqual([oldKey.keyId]);
    expect(recordLeaf).toBeGreaterThan(rotationLeaf);
    expect((await checkpointer.keyInForce(recordLeaf)).keyId).toBe(newKey.keyId);
    expect(signedBy(trusted!.data)).toEqual([newKey.keyId]);
  });

  it('on a shared log, another instance rotating between the record key\'s choice and its append: the append is refused on its condition and the record is signed again, by the new key', async () => {
    for (let i = 0; i < 3; i++) await store.appendToStream(`unit-${i}`, [{ id: randomUUID(), type: 'T', data: randomBytes(40) }]);
    const oldKey = newSigner();
    const newKey = newSigner();
    // Two instances of one log (docs/shared-log.md §2.2): each its own Checkpointer and lock, both holding the new
    // key and the replaced one (rotatedFrom), as the rolling procedure installs them.
    const options = { log: fileLedgerLog(log), ledgerKey: newKey, rotatedFrom: oldKey, origin: ORIGIN, clock: () => new Date(), everyEvents: 1000, intervalMs: 60_000 };
    const writer = new Checkpointer({ ...options, store });
    const keyChosen = deferred();
    const rotated = deferred();
    let held = false;
    const appends: string[] = [];
    const other: EventStore = new Proxy(store, {
      get(target, name, receiver) {
        if (name === 'readStream') {
          return async (stream: string, opts?: Parameters<EventStore['readStream']>[1]) => {
            const read = await target.readStream(stream, opts);
            // The first time this instance reads the rotation stream to choose its record's key, the writer rotates.
            if (stream === LEDGER_KEY_ROTATIONS_STREAM && !held) {
              held = true;
              keyChosen.resolve();
              await rotated.promise;
            }
            return read;
          };
        }
        if (name === 'appendToStreams') {
          return async (requests: Parameters<EventStore['appendToStreams']>[0]) => {
            appends.push(requests.map((r) => `${r.stream}${r.events.length === 0 ? ` at ${String(r.expected)}` : ''}`).join(' + '));
            return target.appendToStreams(requests);
          };
        }
        const value: unknown = Reflect.get(target, name, receiver);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const instance = new Checkpointer({ ...options, store: other });

    const record = instance.recordTrustedAdminKeys(new Map([['admin-1', newSigner().publicKey]]));
    await keyChosen.promise;
    await writer.announceLedgerKeyRotation(oldKey);
    rotated.resolve();
    await record;

    await log.catchUp();
    const [rotation] = await store.readStream(LEDGER_KEY_ROTATIONS_STREAM);
    const trustedRecords = await store.readStream(LEDGER_TRUST_STREAM);
    expect(trustedRecords).toHaveLength(1);
    const leaves = await fileLedgerLog(log).leavesOfPositions([rotation!.position, trustedRecords[0]!.position]);
    const recordLeaf = leaves.get(trustedRecords[0]!.position)!.index;
    expect(recordLeaf).toBeGreaterThan(leaves.get(rotation!.position)!.index);
    const signedBy = (data: Uint8Array) => (JSON.parse(new TextDecoder().decode(data)) as { signatures: { keyid: string }[] }).signatures.map((s) => s.keyid);
    expect((await writer.keyInForce(recordLeaf)).keyId).toBe(newKey.keyId);
    expect(signedBy(trustedRecords[0]!.data)).toEqual([newKey.keyId]);
    // The first append was conditioned on no rotation yet and refused; the second on the rotation that landed.
    expect(appends).toEqual([`${LEDGER_TRUST_STREAM} + ${LEDGER_KEY_ROTATIONS_STREAM} at no_stream`, `${LEDGER_TRUST_STREAM} + ${LEDGER_KEY_ROTATIONS_STREAM} at 0`]);
  });
});
