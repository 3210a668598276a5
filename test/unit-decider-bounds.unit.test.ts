/**
 * Issue 13's unit-decider items, as regressions: who may append to a unit after its scan, line and SKU at
 * the scan, caps on passes and failures, and event-time bounds. Each of these was accepted before. The first
 * half runs the pure decider; the second the real pipeline on a SQLite file, where the context (the signing
 * station, the unit's batch and that batch's release) is loaded as in production.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { UnitEvent } from '../schemas/index.ts';
import { decideUnit, evolveUnit, FIXED_SEQUENCE_LIMITS, initialUnitState, type StationFacts, type UnitDecisionContext, type UnitState } from '../src/domain/unit.ts';
import { DecisionError } from '../src/domain/decision-error.ts';
import type { BatchState } from '../src/domain/batch.ts';
import { SqliteEventStore } from '../src/store/sqlite.ts';
import { Ledger, type Principal } from '../src/write/pipeline.ts';
import { LedgerError } from '../src/write/errors.ts';
import { EventSigner } from '../src/event/signer.ts';
import { newSigner } from '../src/crypto/ed25519.ts';
import { toHex } from '../src/crypto/encoding.ts';
import { simulatedRelease } from '../src/sim/simulated-station.ts';
import { lineSetupEvents } from '../src/sim/line-setup.ts';
import { ev, T0, unit } from './helpers/events.ts';
import { scanData, bootloaderData } from './helpers/ledger-fixture.ts';
import { firstPass, recipeUnit, s3Release } from './helpers/recipe.ts';

const facts = (stationId: string, line = 'L1', role: StationFacts['role'] = 'flash', registeredAt: string | null = null): StationFacts => ({ stationId, line, role, registeredAt });
const batchOf = (releaseId: string, openedAt?: string): BatchState => ({ status: 'open', opened: { batchId: 'B1', releaseId, line: 'L1', productSku: 'SKU', plannedQuantity: 10 }, ...(openedAt ? { openedAt } : {}) });

function decide(history: readonly UnitEvent[], event: UnitEvent, over: Partial<UnitDecisionContext> = {}, release: 'fixed' | 'recipe' = 'fixed'): string {
  const state = history.reduce<UnitState>((s, e) => evolveUnit(s, e), initialUnitState);
  const ctx: UnitDecisionContext = {
    now: new Date(T0.getTime() + 86_400_000),
    maxClockSkewMs: 60_000,
    station: facts(event.source.id),
    batch: () => batchOf(release === 'recipe' ? 'R2' : 'R1'),
    release: (id) => ({ approved: id === 'R2' ? s3Release : null, approvedAt: null }),
    ...over,
  };
  try {
    decideUnit(event, state, ctx);
    return 'accepted';
  } catch (e) {
    if (e instanceof DecisionError) return e.rule;
    throw e;
  }
}

const by = (e: UnitEvent, stationId: string): UnitEvent => ({ ...e, source: { kind: 'station', id: stationId } }) as UnitEvent;

describe('who may append to a unit', () => {
  const scanned = [unit.scanned()];

  it('only the station that scanned the unit records its steps', () => {
    expect(decide(scanned, by(unit.scrapped(), 'ST-02'))).toBe('STATION_NOT_OWNER');
    expect(decide(scanned, by(unit.bootloader(), 'ST-02'))).toBe('STATION_NOT_OWNER');
    expect(decide(scanned, unit.bootloader())).toBe('accepted');
    const r = recipeUnit();
    expect(decide([r.scanned('B1')], by(r.identity(), 'ST-02'), {}, 'recipe')).toBe('STATION_NOT_OWNER');
  });

  it('a repair station of the line reworks and scraps; a packing station of the line only ships', () => {
    const repair = { station: facts('RP-01', 'L1', 'repair') };
    expect(decide(scanned, by(unit.scrapped(), 'RP-01'), repair)).toBe('accepted');
    expect(decide(scanned, by(unit.reworked(), 'RP-01'), repair)).toBe('accepted');
    expect(decide(scanned, by(unit.bootloader(), 'RP-01'), repair)).toBe('ROLE_NOT_ALLOWED');
    expect(decide(scanned, by(unit.scrapped(), 'RP-09'), { station: facts('RP-09', 'L2', 'repair') })).toBe('LINE_MISMATCH');

    const pack = { station: facts('PK-01', 'L1', 'pack') };
    const locked = [unit.scanned(), unit.bootloader(), unit.appVerified(), unit.provisioned(), unit.efuse()];
    expect(decide(locked, by(unit.shipped(), 'PK-01'), pack)).toBe('accepted');
    expect(decide([], by(unit.scanned('B1', 'PK-01'), 'PK-01'), pack)).toBe('ROLE_NOT_ALLOWED');
    expect(decide(locked, by(unit.scrapped(), 'PK-01'), pack)).toBe('ROLE_NOT_ALLOWED');
    expect(decide(locked, by(unit.shipped(), 'PK-02'), { station: facts('PK-02', 'L2', 'pack') })).toBe('LINE_MISMATCH');
  });

  it("a station of another line cannot scan into the batch; nor can a scan name another product's SKU", () => {
    const l2 = by(unit.scanned('B1', 'ST-07'), 'ST-07');
    expect(decide([], l2, { station: facts('ST-07', 'L2') })).toBe('LINE_MISMATCH');
    const otherSku = ev('UnitScanned', { serial: 'SN1', batchId: 'B1', station: 'ST-01', operator: 'op', productSku: 'OTHER', hardwareRevision: 'A' });
    expect(decide([], otherSku)).toBe('SKU_MISMATCH');
  });
});

describe('bounded streams', () => {
  it('after the failure limit of a pass only rework or scrap is accepted', () => {
    const failures = Array.from({ length: FIXED_SEQUENCE_LIMITS.maxFailuresPerAttempt }, () => unit.failed());
    const history = [unit.scanned(), ...failures];
    expect(decide(history, unit.failed())).toBe('FAILURE_LIMIT');
    expect(decide(history, unit.bootloader())).toBe('FAILURE_LIMIT');
    expect(decide(history, unit.reworked())).toBe('accepted');
    expect(decide(history, unit.scrapped())).toBe('accepted');
    expect(decide([...history, unit.reworked()], unit.failed())).toBe('accepted');
  });

  it('after the last pass the recipe allows, the unit can only be scrapped', () => {
    const r = recipeUnit('SN1');
    const pass = (n: number) => [...(n > 1 ? [r.scanned('B1')] : []), r.failed('read-mac', n)];
    const history: UnitEvent[] = [r.scanned('B1'), r.failed('read-mac', 1), r.reworked(), ...pass(2), r.reworked(), ...pass(3)];
    expect(decide(history, r.reworked(), {}, 'recipe')).toBe('ATTEMPT_LIMIT');
    expect(decide(history, r.scrapped(), {}, 'recipe')).toBe('accepted');
    const six = Array.from({ length: s3Release.recipe.limits.maxFailuresPerAttempt }, () => r.failed('read-mac', 1));
    expect(decide([r.scanned('B1'), ...six], r.identity(), {}, 'recipe')).toBe('FAILURE_LIMIT');
  });

  it('repeating successful steps is bounded too', () => {
    const r = recipeUnit('SN1');
    const reads = Array.from({ length: 60 }, () => r.identity('read-mac'));
    const history = [r.scanned('B1'), ...reads];
    const outcomes = history.map((e, i) => decide(history.slice(0, i), e, {}, 'recipe'));
    expect(outcomes).toContain('STREAM_LIMIT');
    expect(decide(history, r.scrapped(), {}, 'recipe')).toBe('accepted');
  });
});

describe('event time bounds', () => {
  const at = (e: UnitEvent, iso: string) => ({ ...e, occurredAt: iso }) as UnitEvent;

  it('not before the batch opened, nor before the station was registered', () => {
    expect(decide([], at(unit.scanned(), '1970-01-01T00:00:00.000Z'), { batch: () => batchOf('R1', T0.toISOString()) })).toBe('BEFORE_BATCH_OPENED');
    expect(decide([], at(unit.scanned(), '0000-01-01T00:00:00.000Z'), { station: facts('ST-01', 'L1', 'flash', T0.toISOString()) })).toBe('BEFORE_STATION_REGISTERED');
    expect(decide([], unit.scanned(), { batch: () => batchOf('R1', T0.toISOString()) })).toBe('accepted');
  });

  it("not earlier than the unit's previous event by more than the allowed skew", () => {
    const scan = unit.scanned();
    const earlier = new Date(Date.parse(scan.occurredAt) - 30 * 86_400_000).toISOString();
    expect(decide([scan], at(unit.bootloader(), earlier))).toBe('TIME_REGRESSION');
    const withinSkew = new Date(Date.parse(scan.occurredAt) - 30_000).toISOString();
    expect(decide([scan], at(unit.bootloader(), withinSkew))).toBe('accepted');
  });
});

describe('through the ledger pipeline (SQLite)', () => {
  const adminP: Principal = { name: 'admin', role: 'admin' };
  const keys = { 'ST-01': newSigner(), 'ST-02': newSigner(), 'ST-07': newSigner(), 'PK-01': newSigner() };
  const principal = (stationId: keyof typeof keys): Principal => ({ name: stationId, role: 'station', stationId });
  let dir: string;
  let store: SqliteEventStore;
  let ledger: Ledger;
  const adminKey = newSigner();
  let admin: EventSigner;
  let signers: Record<keyof typeof keys, EventSigner>;
  const release = simulatedRelease('R-1', 'SENSOR-S3', '1.0.0');

  const refusal = async (stationId: keyof typeof keys, envelope: Parameters<Ledger['submit']>[0][number]) => {
    try {
      await ledger.submit([envelope], principal(stationId));
      return 'accepted';
    } catch (e) {
      if (e instanceof LedgerError) return String(e.details['rule'] ?? e.code);
      throw e;
    }
  };

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flashtrail-bounds-'));
    store = new SqliteEventStore(join(dir, 'events.sqlite'));
    ledger = new Ledger({ store, clock: () => new Date(), adminKeys: new Map([[adminKey.keyId, adminKey.publicKey]]) });
    admin = new EventSigner(adminKey, 'admin');
    signers = Object.fromEntries(Object.entries(keys).map(([id, k]) => [id, new EventSigner(k, id)])) as Record<keyof typeof keys, EventSigner>;
    const setup = lineSetupEvents(admin, { stations: [{ stationId: 'ST-01', key: keys['ST-01'] }, { stationId: 'ST-02', key: keys['ST-02'] }, { stationId: 'ST-07', key: keys['ST-07'], line: 'L2' }], release, batch: { batchId: 'B-1', line: 'L1', plannedQuantity: 10 } });
    setup.push(admin.sign('StationRegistered', { stationId: 'PK-01', line: 'L1', site: 'Plant 1', role: 'pack' }).envelope);
    setup.push(admin.sign('StationKeyRegistered', { stationId: 'PK-01', keyId: keys['PK-01'].keyId, publicKey: toHex(keys['PK-01'].publicKey), algorithm: 'ed25519' }).envelope);
    await ledger.submit(setup, adminP);
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("ST-02 cannot scrap a unit ST-01 is flashing, so ST-01's next signed event still chains", async () => {
    await ledger.submit([signers['ST-01'].sign('UnitScanned', scanData('X-1')).envelope], principal('ST-01'));
    const head = await ledger.streamHead('unit-X-1');
    signers['ST-02'].setHead('unit-X-1', head?.digest ?? null);
    expect(await refusal('ST-02', signers['ST-02'].sign('UnitScrapped', { serial: 'X-1', reason: 'not mine' }).envelope)).toBe('STATION_NOT_OWNER');
    expect(await refusal('ST-01', signers['ST-01'].sign('BootloaderWritten', bootloaderData('X-1', release)).envelope)).toBe('accepted');
  });

  it('a station on line L2 cannot scan into L1; a scan of another SKU is refused; a packing station only ships', async () => {
    expect(await refusal('ST-07', signers['ST-07'].sign('UnitScanned', scanData('X-2', 'B-1', 'ST-07')).envelope)).toBe('LINE_MISMATCH');
    expect(await refusal('ST-01', signers['ST-01'].sign('UnitScanned', { ...scanData('X-3'), productSku: 'OTHER' }).envelope)).toBe('SKU_MISMATCH');
    expect(await refusal('PK-01', signers['PK-01'].sign('UnitScanned', scanData('X-4', 'B-1', 'PK-01')).envelope)).toBe('ROLE_NOT_ALLOWED');
  });

  it('a unit takes a bounded number of failures; an event of 1970 is refused', async () => {
    await ledger.submit([signers['ST-01'].sign('UnitScanned', scanData('X-5')).envelope], principal('ST-01'));
    const failure = () => signers['ST-01'].sign('StepFailed', { serial: 'X-5', step: 'bootloader', errorCode: 'SERIAL_TIMEOUT', message: 'm', attempt: 1 }).envelope;
    for (let i = 0; i < FIXED_SEQUENCE_LIMITS.maxFailuresPerAttempt; i++) await ledger.submit([failure()], principal('ST-01'));
    const head = await ledger.streamHead('unit-X-5');
    signers['ST-01'].setHead('unit-X-5', head?.digest ?? null);
    expect(await refusal('ST-01', failure())).toBe('FAILURE_LIMIT');
    signers['ST-01'].setHead('unit-X-5', head?.digest ?? null);
    expect(await refusal('ST-01', signers['ST-01'].sign('UnitScanned', scanData('X-6'), { occurredAt: new Date('1970-01-01T00:00:00.000Z') }).envelope)).toBe('BEFORE_STATION_REGISTERED');
  });

  it('a recipe release: the scan loads batch and release, the station runs the recipe', async () => {
    await ledger.submit([admin.sign('ReleaseApproved', { ...s3Release, releaseId: 'R2' }).envelope, admin.sign('BatchOpened', { batchId: 'B2', releaseId: 'R2', line: 'L1', productSku: 'SKU', plannedQuantity: 5 }).envelope], adminP);
    const r = recipeUnit('Y-1');
    const now = Date.now();
    const events = firstPass(r, 'write-images').map((e, i) => signers['ST-01'].sign(e.type, e.data as never, { occurredAt: new Date(now + i) }).envelope);
    const appended = await ledger.submit(events, principal('ST-01'));
    expect(appended).toHaveLength(events.length);
    expect(await refusal('ST-01', signers['ST-01'].sign('UnitScanned', { ...scanData('Y-2', 'B2'), productSku: 'SKU' }).envelope)).toBe('RECIPE_MISMATCH');
    const bootloader = signers['ST-01'].sign('BootloaderWritten', bootloaderData('Y-1', release)).envelope;
    expect(await refusal('ST-01', bootloader)).toBe('RECIPE_MISMATCH');
  });
});
