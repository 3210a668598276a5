/**
 * A long catch-up of the unit history map persists its changes in bounded batches before its commitment
 * (UnitMapStorage.stage), so that the first start over millions of events neither holds every change in memory
 * nor leaves unit-map.sqlite empty until the end: on a real ledger's event store, a map built with staging
 * commits exactly the leaves the ledger's own map committed, reopens without a rebuild, and a state cut off
 * after a staged batch (before its commitment) is detected on open and rebuilt to the same leaves.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestLedger, type TestLedger } from './helpers/ledger-fixture.ts';
import { SimulatedStation } from '../src/sim/simulated-station.ts';
import { LedgerClient } from '../src/client/ledger-client.ts';
import { EventSigner } from '../src/event/signer.ts';
import { SqliteEventStore } from '../src/store/sqlite.ts';
import { UNIT_MAP_KEY_FILE, UnitMapIndex } from '../src/read/unit-map.ts';
import { SqliteUnitMapStorage } from '../src/read/unit-map-storage.ts';
import { readSecretKeyFile } from '../src/files/key-file.ts';
import { parseVerifierKey } from '../src/verify/index.ts';
import { MerklePatriciaTree } from '../src/tlog/mpt.ts';
import { decodeHistory, historyKey } from '../src/verify/history-map.ts';
import { nativeCrypto } from '../src/native/crypto.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'flashtrail-map-staged-'));
let t: TestLedger;
let ledgerLeaves: string[];
let ledgerOrigin: string;

const issue = async (tl: TestLedger) => (await fetch(`${tl.url}/v1/checkpoint`, { method: 'POST', headers: { authorization: `Bearer ${tl.tokens.admin}` } })).text();

beforeAll(async () => {
  t = await startTestLedger({ dataDir });
  const station = new SimulatedStation(new LedgerClient(t.url, t.tokens.station1), new EventSigner(t.stationKeys['ST-01'], 'ST-01'), { stationId: 'ST-01', operator: 'op', batchId: t.batchId, hardwareRevision: 'rev-C' }, t.release);
  for (const serial of ['S-1', 'S-2', 'S-3']) await station.flash(serial, 'pass');
  await issue(t);
  await station.flash('S-4', 'app-mismatch-then-rework');
  await station.flash('S-5', 'pass');
  await issue(t);
  ledgerOrigin = parseVerifierKey((await (await fetch(`${t.url}/v1/ledger/key`, { headers: { authorization: `Bearer ${t.tokens.auditor}` } })).text()).trim()).name;
  // Wait until the ledger's own map committed the last checkpoint, then stop it: its commitments are the reference.
  await fetch(`${t.url}/v1/unit-map/checkpoint`, { headers: { authorization: `Bearer ${t.tokens.auditor}` } });
  await t.stop();
  const db = new Database(join(dataDir, 'unit-map.sqlite'), { readonly: true });
  ledgerLeaves = (db.prepare('SELECT leaf FROM map_commitments ORDER BY idx').all() as { leaf: string }[]).map((r) => r.leaf);
  db.close();
}, 60_000);
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

async function openMap(file: string, stageChanges: number) {
  const lines: string[] = [];
  const store = new SqliteEventStore(join(dataDir, 'events.sqlite'));
  const index = await UnitMapIndex.open({
    store,
    file,
    ledgerOrigin,
    key: readSecretKeyFile(join(dataDir, UNIT_MAP_KEY_FILE)),
    logger: pino({ level: 'info' }, { write: (line: string) => void lines.push(line) }),
    stageChanges,
  });
  const leaves = index.committed().map((c) => c.leaf);
  await index.close();
  await store.close();
  return { leaves, logs: lines.join('') };
}

describe('a catch-up that persists its changes in batches', () => {
  const file = join(dataDir, 'staged-unit-map.sqlite');

  it('commits the leaves the ledger committed, and its persisted state reopens without a rebuild', async () => {
    expect(ledgerLeaves.length).toBeGreaterThanOrEqual(2);
    const built = await openMap(file, 1);
    // The ledger may have stopped before committing its last checkpoint: its leaves are a prefix of ours.
    expect(built.leaves.length).toBeGreaterThanOrEqual(2);
    expect(built.leaves.slice(0, ledgerLeaves.length)).toEqual(ledgerLeaves);
    // And a build that holds every change for its commitment (no staging) gives every leaf alike.
    const unstaged = await openMap(join(dataDir, 'unstaged-unit-map.sqlite'), 1_000_000);
    expect(built.leaves).toEqual(unstaged.leaves);
    ledgerLeaves = built.leaves;
    const db = new Database(file, { readonly: true });
    expect((db.prepare("SELECT value FROM map_meta WHERE key = 'partial'").get() as unknown) ?? null).toBeNull();
    db.close();
    // Each unit's history is its leaf in the stored map tree (read on use, checked against the stored root).
    const storage = new SqliteUnitMapStorage(file);
    const tree = new MerklePatriciaTree(nativeCrypto, storage.nodes, storage.nodes.tree('map'));
    expect(['S-1', 'S-2', 'S-3', 'S-4', 'S-5'].map((s) => decodeHistory(tree.get(historyKey(s, nativeCrypto))!).count > 0)).toEqual([true, true, true, true, true]);
    expect(tree.get(historyKey('S-9', nativeCrypto))).toBeNull();
    storage.close();
    const reopened = await openMap(file, 1);
    expect(reopened.leaves).toEqual(ledgerLeaves);
    expect(reopened.logs).not.toContain('rebuilt from the event store');
  });

  it('detects a state cut off after a staged batch, before its commitment, and rebuilds it to the same leaves', async () => {
    // What a process killed mid catch-up leaves: changes of leaves past the last commitment, marked partial.
    const storage = new SqliteUnitMapStorage(file);
    const committedMap = storage.nodes.tree('map');
    await storage.stage({
      units: [],
      firmware: { slots: [{ serial: 'S-9', slot: 'application', sha256: 'a'.repeat(64) }], members: [] },
      // A flush of trees for leaves past the last commitment: a map root no commitment has.
      nodes: (sink) => {
        sink.node(1_000_000, Uint8Array.of(0, 1, 9, 9));
        sink.tree('map', { root: 1_000_000, hash: new Uint8Array(32), size: 1 });
      },
    });
    storage.close();
    const reopened = await openMap(file, 1_000_000);
    expect(reopened.logs).toContain('stopped after persisting part of its changes');
    expect(reopened.logs).toContain('rebuilt from the event store');
    expect(reopened.leaves).toEqual(ledgerLeaves);
    const db = new Database(file, { readonly: true });
    expect((db.prepare("SELECT serial FROM map_slots WHERE serial = 'S-9'").get() as unknown) ?? null).toBeNull();
    expect((db.prepare('SELECT row FROM map_nodes WHERE id = 1000000').get() as unknown) ?? null).toBeNull();
    expect(Buffer.from((db.prepare("SELECT hash FROM map_trees WHERE name = 'map'").get() as { hash: Buffer }).hash).equals(Buffer.from(committedMap.hash))).toBe(true);
    expect((db.prepare("SELECT value FROM map_meta WHERE key = 'partial'").get() as unknown) ?? null).toBeNull();
    db.close();
  });
});
