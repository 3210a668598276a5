/** The start-up comparison of the Merkle log with the event store, on real SQLite files. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteEventStore } from '../src/store/sqlite.ts';
import { MerkleLog } from '../src/read/merkle-log.ts';
import { checkRecentLeaves, LogIntegrityError } from '../src/read/log-integrity.ts';
import { nativeCrypto } from '../src/native/crypto.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'flashtrail-integrity-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function logged(n: number): Promise<void> {
  const store = new SqliteEventStore(join(dir, 'events.sqlite'));
  for (let i = 0; i < n; i++) await store.appendToStream(`unit-${i}`, [{ id: randomUUID(), type: 'T', data: randomBytes(30) }]);
  const log = new MerkleLog(store, join(dir, 'merkle.sqlite'));
  await log.catchUp();
  log.close();
  await store.close();
}

async function check(recent: number): Promise<unknown> {
  const store = new SqliteEventStore(join(dir, 'events.sqlite'));
  const log = new MerkleLog(store, join(dir, 'merkle.sqlite'));
  try {
    return await checkRecentLeaves(store, log, recent, nativeCrypto);
  } catch (error) {
    return error;
  } finally {
    log.close();
    await store.close();
  }
}

function edit(sql: string): void {
  const db = new Database(join(dir, 'events.sqlite'));
  db.exec('DROP TRIGGER events_append_only_update; DROP TRIGGER events_append_only_delete;');
  db.exec(sql);
  db.close();
}

describe('recent leaves against the event store', () => {
  it('counts the leaves it compared; events not yet logged are not a mismatch', async () => {
    await logged(20);
    expect(await check(5)).toBe(5);
    expect(await check(100)).toBe(20);
    const store = new SqliteEventStore(join(dir, 'events.sqlite'));
    await store.appendToStream('unit-new', [{ id: randomUUID(), type: 'T', data: randomBytes(30) }]);
    await store.close();
    expect(await check(100)).toBe(20);
  });

  it('an event inserted before the first leaf it compares', async () => {
    await logged(10);
    edit(`INSERT INTO events (position, stream, revision, id, type, data, recorded_at) VALUES (0, 'unit-x', 0, 'x', 'T', x'00', '2026-01-01T00:00:00.000Z')`);
    const error = (await check(100)) as LogIntegrityError;
    expect(error).toBeInstanceOf(LogIntegrityError);
    expect(error.message).toMatch(/^the event store holds an event at \$all position 0 \(unit-x\) that the Merkle log never hashed, before leaf 0 \(position 1\): an event was inserted/);
    expect([error.leafIndex, error.position]).toEqual([0, 0n]);
  });

  it('only the newest leaves are compared: an older edit is outside them', async () => {
    await logged(10);
    edit("UPDATE events SET data = x'01' WHERE position = 2");
    expect(await check(5)).toBe(5);
    const error = (await check(10)) as LogIntegrityError;
    expect([error.leafIndex, error.position]).toEqual([1, 2n]);
  });
});
