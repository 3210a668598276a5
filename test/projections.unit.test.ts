import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { unitStateProjection, type UnitView } from '../projections/unit-state.ts';
import { productionProjection } from '../projections/production.ts';
import { componentIndexProjection } from '../projections/components.ts';
import { ProjectionRunner } from '../src/read/projection-runner.ts';
import { SqliteEventStore } from '../src/store/sqlite.ts';
import { startTestLedger } from './helpers/ledger-fixture.ts';
import { SimulatedStation, type UnitScenario } from '../src/sim/simulated-station.ts';
import { LedgerClient } from '../src/client/ledger-client.ts';
import { EventSigner } from '../src/event/signer.ts';
import { ev, unit } from './helpers/events.ts';
import { signEvent } from '../src/event/codec.ts';
import { envelopeBytes } from '../src/crypto/dsse.ts';
import { newSigner } from '../src/crypto/ed25519.ts';
import type { DocumentProjection } from '../projections/projection.ts';
import type { LedgerEvent, UnitEvent } from '../schemas/index.ts';
import Database from 'better-sqlite3';

const meta = (i: number) => ({ stream: 'unit-SN1', revision: BigInt(i), position: BigInt(100 + i), digest: String(i).repeat(64).slice(0, 64) });
const project = (events: UnitEvent[]) => events.reduce<UnitView | null>((s, e, i) => unitStateProjection.evolve(s, e, meta(i), () => null), null) as UnitView;


/** Appends `count` units' UnitScrapped events (S-0, S-1, ...), one transaction each, signed by a key of their own. */
async function scrapUnits(store: SqliteEventStore, count: number): Promise<void> {
  const signer = newSigner();
  for (let i = 0; i < count; i++) {
    const event = ev('UnitScrapped', { serial: `S-${i}`, reason: 'x' } as never);
    await store.appendToStreams([{ stream: `unit-S-${i}`, events: [{ id: event.id, type: event.type, data: envelopeBytes(signEvent(event, signer)) }] }]);
  }
}
describe('unit-state projection (given events, then view)', () => {
  it('follows the firmware through the sequence', () => {
    const view = project([unit.scanned(), unit.bootloader(), unit.appVerified(), unit.provisioned(), unit.efuse()]);
    expect(view).toMatchObject({
      serial: 'SN1', status: 'locked', batchId: 'B1', attempt: 1, failures: 0, eventCount: 5,
      bootloader: { sha256: 'b'.repeat(64) }, application: { sha256: 'a'.repeat(64), verified: true }, efuse: { secureBoot: true },
      head: { revision: '4', position: '104' },
    });
  });
  it('records a failed verification as a failure and drops downstream steps', () => {
    const view = project([unit.scanned(), unit.bootloader(), unit.appVerified(), unit.provisioned(), unit.appVerified('f'.repeat(64))]);
    expect(view).toMatchObject({ status: 'bootloader_written', failures: 1, provisioning: null, application: { verified: false }, lastFailure: { errorCode: 'APP_HASH_MISMATCH' } });
  });
  it('counts rework attempts and keeps scrap reasons', () => {
    const view = project([unit.scanned(), unit.failed(), unit.reworked(), unit.scrapped()]);
    expect(view).toMatchObject({ status: 'scrapped', attempt: 2, failures: 1, scrapped: { reason: 'cracked' }, lastFailure: { errorCode: 'TIMEOUT' } });
  });
  it('ignores events of other streams', () => {
    expect(unitStateProjection.keyOf({ type: 'BatchClosed', source: { kind: 'admin', id: 'a' } } as never)).toBeNull();
  });
});

describe('projection runner', () => {
  it('rebuilds from zero to the identical read model, and resumes from its checkpoint', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'flashtrail-proj-'));
    const t = await startTestLedger({ dataDir });
    const station = new SimulatedStation(new LedgerClient(t.url, t.tokens.station1), new EventSigner(t.stationKeys['ST-01'], 'ST-01'), { stationId: 'ST-01', operator: 'op', batchId: t.batchId, hardwareRevision: 'rev-C' }, t.release);
    const scenarios: UnitScenario[] = ['pass', 'app-mismatch-then-rework', 'scrap-after-mismatch', 'pass-unshipped'];
    for (let i = 0; i < 12; i++) await station.flash(`P-${i}`, scenarios[i % scenarios.length] as UnitScenario);
    await t.running.projections.catchUp();
    const live = t.running.projections.dump();
    expect((JSON.parse(live) as { docs: { projection: string }[] }).docs.filter((d) => d.projection === 'unit-state')).toHaveLength(12);
    await t.stop();

    const dir = mkdtempSync(join(tmpdir(), 'flashtrail-rebuild-'));
    const store = new SqliteEventStore(join(t.dataDir, 'events.sqlite'));
    const fresh = new ProjectionRunner(store, join(dir, 'readmodel.sqlite'), [unitStateProjection, productionProjection, componentIndexProjection], 7);
    await fresh.catchUp();
    expect(fresh.dump()).toBe(live);
    const progress: bigint[] = [];
    await fresh.rebuild((p) => progress.push(p));
    expect(fresh.dump()).toBe(live);
    expect(progress[progress.length - 1]).toBe(await store.headPosition());
    const status = await fresh.status();
    const headNow = await store.headPosition();
    expect(status).toEqual(['unit-state', 'production', 'cra'].map((name) => ({ name, position: headNow, lag: 0n })));
    fresh.close();
    // Documents are kept in memory within a batch: one event per batch is the reference it must match.
    const single = new ProjectionRunner(store, join(dir, 'single.sqlite'), [unitStateProjection, productionProjection, componentIndexProjection], 1);
    await single.catchUp();
    expect(single.dump()).toBe(live);
    single.close();

    // Reopening the existing read model resumes: nothing is applied twice.
    const reopened = new ProjectionRunner(store, join(dir, 'readmodel.sqlite'), [unitStateProjection, productionProjection, componentIndexProjection]);
    await reopened.catchUp();
    expect(reopened.dump()).toBe(live);
    reopened.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(t.dataDir, { recursive: true, force: true });
  });
});

describe('projection runner, documents kept between passes', () => {
  // Each event moves its unit's index row to the event's type, and so removes the previous one: what a pass
  // that rewrites only the index rows that changed must get right, from a parsed document it kept or read.
  const lastType: DocumentProjection<{ serial: string; type: string; count: number }> = {
    name: 'last-type',
    version: 1,
    keyOf: (event: LedgerEvent) => ('serial' in event.data ? (event.data as { serial: string }).serial : null),
    evolve: (doc, event) => ({ serial: (event.data as { serial: string }).serial, type: event.type, count: (doc?.count ?? 0) + 1 }),
    indexes: (doc) => [['type', doc.type], ...(doc.count > 2 ? ([['busy', 'yes']] as const) : [])],
  };

  it('live passes, one event at a time, give the same documents and index rows as one rebuild', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flashtrail-recent-'));
    const store = new SqliteEventStore(join(dir, 'events.sqlite'));
    const signer = newSigner();
    const live = new ProjectionRunner(store, join(dir, 'live.sqlite'), [lastType], 1);
    const types = ['UnitScanned', 'BootloaderWritten', 'UnitReworked', 'UnitScrapped'] as const;
    for (const [round, type] of types.entries()) {
      for (const serial of ['A', 'B', 'C']) {
        const data = { UnitScanned: { serial, batchId: 'B1', station: 'ST-01', operator: 'op', productSku: 'SKU', hardwareRevision: 'rev-A' }, BootloaderWritten: { serial, imageSha256: 'b'.repeat(64), version: '1', sizeBytes: 10, signingKeyRef: 'k', signingKeyDigest: 'd'.repeat(64) }, UnitReworked: { serial, reason: 'r' }, UnitScrapped: { serial, reason: 'x' } }[type];
        const event = ev(type, data as never);
        await store.appendToStreams([{ stream: `unit-${serial}`, events: [{ id: event.id, type, data: envelopeBytes(signEvent(event, signer)) }] }]);
        await live.catchUp();
      }
      expect(live.findKeys('last-type', 'type', type)).toEqual(['A', 'B', 'C']);
      if (round > 0) expect(live.findKeys('last-type', 'type', types[round - 1] as string)).toEqual([]);
    }
    expect(live.findKeys('last-type', 'busy', 'yes')).toEqual(['A', 'B', 'C']);
    const rebuilt = new ProjectionRunner(store, join(dir, 'rebuilt.sqlite'), [lastType]);
    await rebuilt.rebuild();
    expect(live.dump()).toBe(rebuilt.dump());
    // Rebuilding the live runner drops what it kept: the same result again.
    await live.rebuild();
    expect(live.dump()).toBe(rebuilt.dump());
    live.close();
    rebuilt.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a projection rebuilt beside one that is not, over many batches, on one thread or two, leaves the other where it stood: nothing is applied twice', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flashtrail-ahead-'));
    const store = new SqliteEventStore(join(dir, 'events.sqlite'));
    await scrapUnits(store, 30);
    const head = await store.headPosition();
    // Counting is what applying an event twice would show.
    const counted = { ...lastType, name: 'counted' };
    const reference = new ProjectionRunner(store, join(dir, 'reference.sqlite'), [lastType, counted]);
    await reference.catchUp();
    // 30 events are 15 batches of 2 (caught up on this thread) and 30 of 1 (on two: more than 20 batches behind).
    for (const batchSize of [2, 1]) {
      const file = join(dir, `readmodel-${batchSize}.sqlite`);
      const first = new ProjectionRunner(store, file, [lastType, counted]);
      await first.catchUp();
      first.close();
      const upgraded = new ProjectionRunner(store, file, [{ ...lastType, version: 2 }, counted], batchSize);
      expect((await upgraded.status()).map((s) => [s.name, s.position])).toEqual([['last-type', -1n], ['counted', head]]);
      await upgraded.catchUp();
      expect(upgraded.dump()).toBe(reference.dump());
      expect((await upgraded.status()).map((s) => [s.name, s.position])).toEqual([['last-type', head], ['counted', head]]);
      upgraded.close();
    }
    reference.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a batch the rebuild thread cannot write fails the rebuild with its reason, and the batches before it stay committed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flashtrail-unwritable-'));
    const store = new SqliteEventStore(join(dir, 'events.sqlite'));
    await scrapUnits(store, 10);
    // A reducer that returns nothing for the fifth unit: a document SQLite cannot bind (no index rows to make first).
    const broken = { ...lastType, indexes: undefined, evolve: (doc: never, event: LedgerEvent, meta: never, lookup: never) => ((event.data as { serial: string }).serial === 'S-4' ? (undefined as never) : lastType.evolve(doc, event, meta, lookup)) };
    const runner = new ProjectionRunner(store, join(dir, 'readmodel.sqlite'), [broken], 2);
    await expect(runner.rebuild()).rejects.toThrow(/NOT NULL constraint failed: projection_docs.doc/);
    // The first two batches (four units) were committed; the third was not, nor any after it (the next one
    // was already projected, and sent, while the third was being written).
    expect((await runner.status())[0]?.position).toBe((await store.headPosition()) - 6n);
    expect(runner.get('last-type', 'S-3')).toMatchObject({ serial: 'S-3' });
    for (const serial of ['S-5', 'S-6', 'S-9']) expect(runner.get('last-type', serial)).toBeNull();
    runner.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a read model of the previous layout is emptied and rebuilt when opened, to the same documents', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flashtrail-layout-'));
    const store = new SqliteEventStore(join(dir, 'events.sqlite'));
    const signer = newSigner();
    for (const serial of ['A', 'B']) {
      const event = ev('UnitScanned', { serial, batchId: 'B1', station: 'ST-01', operator: 'op', productSku: 'SKU', hardwareRevision: 'rev-A' });
      await store.appendToStreams([{ stream: `unit-${serial}`, events: [{ id: event.id, type: event.type, data: envelopeBytes(signEvent(event, signer)) }] }]);
    }
    const reference = new ProjectionRunner(store, join(dir, 'reference.sqlite'), [lastType]);
    await reference.catchUp();
    // Layout 1 (user_version 0): documents WITHOUT ROWID, 4 KiB pages, an index by key, and a checkpoint at
    // the head with a stale document: kept as it is, it would be served.
    const old = new Database(join(dir, 'old.sqlite'));
    old.exec(`CREATE TABLE projection_checkpoints (projection TEXT PRIMARY KEY, version INTEGER NOT NULL, position INTEGER NOT NULL);
      CREATE TABLE projection_docs (projection TEXT NOT NULL, key TEXT NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (projection, key)) WITHOUT ROWID;
      CREATE TABLE projection_index (projection TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL, key TEXT NOT NULL, PRIMARY KEY (projection, name, value, key)) WITHOUT ROWID;
      CREATE INDEX projection_index_by_key ON projection_index (projection, key);`);
    old.prepare('INSERT INTO projection_checkpoints VALUES (?, ?, ?)').run('last-type', 1, Number(await store.headPosition()));
    old.prepare('INSERT INTO projection_docs VALUES (?, ?, ?)').run('last-type', 'A', JSON.stringify({ serial: 'A', type: 'stale', count: 9 }));
    old.close();
    const reopened = new ProjectionRunner(store, join(dir, 'old.sqlite'), [lastType]);
    await reopened.catchUp();
    expect(reopened.dump()).toBe(reference.dump());
    expect(reopened.get<{ type: string }>('last-type', 'A')?.type).toBe('UnitScanned');
    reopened.close();
    const file = new Database(join(dir, 'old.sqlite'), { readonly: true });
    expect(file.pragma('user_version', { simple: true })).toBe(2);
    expect(file.pragma('page_size', { simple: true })).toBe(16384);
    expect(file.prepare("SELECT name FROM sqlite_master WHERE name = 'projection_index_by_key'").all()).toEqual([]);
    file.close();
    reference.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("an upgrade rebuilds a projection whose version changed, and the projections it reads or that read it", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flashtrail-upgrade-'));
    const store = new SqliteEventStore(join(dir, 'events.sqlite'));
    const signer = newSigner();
    const setup = [
      ev('StationRegistered', { stationId: 'ST-01', line: 'L1', site: 'P' }),
      ev('ReleaseApproved', { releaseId: 'R1', productSku: 'SKU', version: '1', bootloaderSha256: 'b'.repeat(64), applicationSha256: 'a'.repeat(64), provisioningTemplateSha256: 't'.repeat(64), signingKeyDigest: 'd'.repeat(64), efuseProfile: 'sb' }),
      ev('BatchOpened', { batchId: 'B1', releaseId: 'R1', line: 'L1', productSku: 'SKU', plannedQuantity: 5 }),
    ];
    const streamOfSetup = (e: LedgerEvent) => (e.type === 'StationRegistered' ? 'station-ST-01' : e.type === 'ReleaseApproved' ? 'release-R1' : 'batch-B1');
    for (const e of setup) await store.appendToStreams([{ stream: streamOfSetup(e), events: [{ id: e.id, type: e.type, data: envelopeBytes(signEvent(e, signer)) }] }]);
    for (const e of [unit.scanned(), unit.bootloader(), unit.appVerified()]) await store.appendToStreams([{ stream: 'unit-SN1', events: [{ id: e.id, type: e.type, data: envelopeBytes(signEvent(e, signer)) }] }]);
    const projections = [unitStateProjection, productionProjection, componentIndexProjection];
    const reference = new ProjectionRunner(store, join(dir, 'reference.sqlite'), projections);
    await reference.catchUp();
    // Production 3 kept the decider's state in its unit documents; the file says so, at the head.
    type Doc = Record<string, unknown>;
    const previous = { ...productionProjection, version: 3, evolve: (d: never, e: LedgerEvent, m: never, l: never) => ({ ...(productionProjection.evolve(d, e, m, l) as unknown as Doc), decider: 'v3' }) } as DocumentProjection<unknown>;
    const old = new ProjectionRunner(store, join(dir, 'old.sqlite'), [unitStateProjection, previous, componentIndexProjection]);
    await old.catchUp();
    expect(old.get<Doc>('production', 'unit:SN1')?.decider).toBe('v3');
    old.close();
    const head = await store.headPosition();
    const upgraded = new ProjectionRunner(store, join(dir, 'old.sqlite'), projections);
    // Both production and unit-state (which it reads as of each event) start over; cra, untouched, keeps its place.
    expect((await upgraded.status()).map((s) => [s.name, s.position])).toEqual([['unit-state', -1n], ['production', -1n], ['cra', head]]);
    await upgraded.catchUp();
    expect(upgraded.dump()).toBe(reference.dump());
    upgraded.close();
    // A change of unit-state alone rebuilds production with it.
    const unitStateNext = { ...unitStateProjection, version: unitStateProjection.version + 1 };
    const next = new ProjectionRunner(store, join(dir, 'old.sqlite'), [unitStateNext, productionProjection, componentIndexProjection]);
    expect((await next.status()).map((s) => [s.name, s.position])).toEqual([['unit-state', -1n], ['production', -1n], ['cra', head]]);
    await next.catchUp();
    expect(next.dump()).toBe(reference.dump());
    next.close();
    // A runner that lists production before what it reads is refused.
    expect(() => new ProjectionRunner(store, join(dir, 'wrong.sqlite'), [productionProjection, unitStateProjection])).toThrow(/reads unit-state, which must come before it/);
    reference.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
});
