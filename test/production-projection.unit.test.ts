/** Given events, then production facts, drift and yield: the pure reducers and reports. */
import { describe, expect, it } from 'vitest';
import type { LedgerEvent } from '../schemas/index.ts';
import { DRIFT_DIMENSIONS, judge, productionProjection, type ProductionDoc, type StepValue, type UnitFacts } from '../projections/production.ts';
import { createHash } from 'node:crypto';
import { driftReport } from '../projections/drift.ts';
import { yieldBy, yieldFigures } from '../projections/yield.ts';
import { ev, hash } from './helpers/events.ts';
import { unitStateProjection, type UnitView } from '../projections/unit-state.ts';

/** Folds the events as the runner does: unit-state first (production reads its decider state), then production. */
function given(events: LedgerEvent[]) {
  const docs = new Map<string, ProductionDoc>();
  const units = new Map<string, UnitView>();
  events.forEach((e, i) => {
    const meta = { stream: 's', revision: BigInt(i), position: BigInt(i), digest: '' };
    const serial = unitStateProjection.keyOf(e);
    if (serial !== null) units.set(serial, unitStateProjection.evolve(units.get(serial) ?? null, e, meta, () => null));
    const key = productionProjection.keyOf(e);
    if (key === null) return;
    const lookup = <T>(k: string, projection?: string) => ((projection === unitStateProjection.name ? units.get(k) : docs.get(k)) as T | undefined) ?? null;
    docs.set(key, productionProjection.evolve(docs.get(key) ?? null, e, meta, lookup));
  });
  return { unit: (serial: string) => docs.get(`unit:${serial}`) as UnitFacts, docs };
}

const release = ev('ReleaseApproved', {
  releaseId: 'R1', productSku: 'SKU', version: '1', bootloaderSha256: hash('b'), applicationSha256: hash('a'),
  provisioningTemplateSha256: hash('t'), signingKeyDigest: hash('d'), efuseProfile: 'sb',
});
const station = ev('StationRegistered', { stationId: 'ST-01', line: 'L7', site: 'P' });
const batch = ev('BatchOpened', { batchId: 'B1', releaseId: 'R1', line: 'L7', productSku: 'SKU', plannedQuantity: 10 });
const setup = [release, station, batch];

const u = (serial: string) => ({
  scan: () => ev('UnitScanned', { serial, batchId: 'B1', station: 'ST-01', operator: 'op-ana', productSku: 'SKU', hardwareRevision: 'A' }),
  boot: (image = hash('b'), key = hash('d')) => ev('BootloaderWritten', { serial, imageSha256: image, version: '1', sizeBytes: 1, signingKeyRef: 'k', signingKeyDigest: key }),
  app: (image = hash('a'), pass = true) => ev('AppVerified', { serial, imageSha256: image, version: '1', sizeBytes: 1, reportedSha256: pass ? image : hash('f'), method: 'device_report', result: pass ? 'pass' : 'fail' }),
  prov: (template = hash('t')) => ev('ProvisioningApplied', { serial, templateId: 't', templateSha256: template, configSha256: hash('c') }),
  efuse: (profile = 'sb') => ev('EfuseBurned', { serial, profile, fuses: [{ name: 'X', value: '1' }], keyDigests: [hash('d')], secureBoot: true, flashEncryption: true }),
  fail: (step: 'bootloader' | 'provisioning' | 'efuse', code = 'TIMEOUT') => ev('StepFailed', { serial, step, errorCode: code, message: 'm', attempt: 1 }),
  rework: () => ev('UnitReworked', { serial, reason: 'r' }),
  scrap: () => ev('UnitScrapped', { serial, reason: 'bad chip' }),
  ship: () => ev('UnitShipped', { serial, customer: 'ACME', orderRef: 'PO' }),
});

describe('production projection', () => {
  it('a unit flashed exactly as released: no deviation, first pass, line from its batch', () => {
    const a = u('A');
    const facts = given([...setup, a.scan(), a.boot(), a.app(), a.prov(), a.efuse(), a.ship()]).unit('A');
    expect(facts).toMatchObject({ status: 'shipped', firstPass: true, deviations: [], line: 'L7', station: 'ST-01', batchId: 'B1', releaseId: 'R1', customer: 'ACME' });
    expect(facts.fingerprint).toMatch(/^[0-9a-f]{64}$/);
  });

  it('records each dimension that deviates, with the station, operator and time of the step', () => {
    const a = u('A');
    const wrongApp = a.app(hash('9'));
    const facts = given([...setup, a.scan(), a.boot(hash('b'), hash('e')), wrongApp, a.prov(hash('x')), a.efuse('dev-profile')]).unit('A');
    expect(facts.deviations.map((d) => d.dimension).sort()).toEqual(['application', 'efuse_profile', 'provisioning_template', 'signing_key']);
    expect(facts.deviations.find((d) => d.dimension === 'application')).toMatchObject({ value: hash('9'), expected: hash('a'), station: 'ST-01', operator: 'op-ana', at: wrongApp.occurredAt, eventId: wrongApp.id });
  });

  it('a deviation is judged on what the unit carries now: re-flashing the released image clears it', () => {
    const a = u('A');
    expect(given([...setup, a.scan(), a.boot(), a.app(hash('9')), a.boot(), a.app()]).unit('A').deviations).toEqual([]);
  });

  it('failures, reworks and scrap', () => {
    const a = u('A');
    const facts = given([...setup, a.scan(), a.fail('bootloader', 'SERIAL_TIMEOUT'), a.boot(), a.app(hash('a'), false), a.rework(), a.boot(), a.app(hash('a'), false), a.scrap()]).unit('A');
    expect(facts).toMatchObject({ status: 'scrapped', reworks: 1, attempt: 2, firstPass: false, scrapReason: 'bad chip' });
    expect(facts.failures.map((f) => `${f.step}/${f.errorCode}/${f.attempt}`)).toEqual(['bootloader/SERIAL_TIMEOUT/1', 'app_verify/APP_HASH_MISMATCH/1', 'app_verify/APP_HASH_MISMATCH/2']);
  });

  it('indexes units by batch, line, station, day, and drifted ones by batch and time', () => {
    const a = u('A');
    const wrong = a.app(hash('9'));
    const facts = given([...setup, a.scan(), a.boot(), wrong]).unit('A');
    const rows = productionProjection.indexes?.(facts) ?? [];
    expect(rows).toEqual(expect.arrayContaining([['batch', 'B1'], ['line', 'L7'], ['station', 'ST-01'], ['drifted-batch', 'B1'], ['drift-at', wrong.occurredAt], ['day', facts.day]]));
  });
});

describe('drift report', () => {
  it('rate, dimensions, drifted units, and minority fingerprints', () => {
    const events: LedgerEvent[] = [...setup];
    for (const s of ['A', 'B', 'C', 'D']) {
      const x = u(s);
      events.push(x.scan(), x.boot(), x.app(s === 'D' ? hash('9') : hash('a')), x.prov(), x.efuse());
    }
    const { docs } = given(events);
    const units = [...docs.values()].filter((d): d is UnitFacts => d.kind === 'unit');
    const report = driftReport(units);
    expect(report).toMatchObject({ units: 4, drifted: 1, driftRate: 0.25, byDimension: { application: 1, bootloader: 0 } });
    expect(report.driftedUnits.map((d) => d.serial)).toEqual(['D']);
    expect(report.fingerprints.map((f) => [f.units, f.minority, f.serials])).toEqual([[3, false, []], [1, true, ['D']]]);
  });
});

describe('yield report', () => {
  it('first-pass yield, rework, scrap rate, retries and a Pareto with cumulative shares', () => {
    const events: LedgerEvent[] = [...setup];
    const ok = u('OK');
    events.push(ok.scan(), ok.boot(), ok.app(), ok.prov(), ok.efuse(), ok.ship());
    const rw = u('RW');
    events.push(rw.scan(), rw.boot(), rw.fail('provisioning'), rw.fail('provisioning'), rw.rework(), rw.boot(), rw.app(), rw.prov(), rw.efuse());
    const sc = u('SC');
    events.push(sc.scan(), sc.boot(), sc.app(hash('a'), false), sc.scrap());
    const wip = u('WIP');
    events.push(wip.scan());
    const units = [...given(events).docs.values()].filter((d): d is UnitFacts => d.kind === 'unit');
    const y = yieldFigures(units);
    expect(y).toMatchObject({ started: 4, completed: 2, inProgress: 1, firstPassYield: 0.25, reworked: 1, scrapped: 1, scrapRate: 0.25, retriesPerStep: { provisioning: 2, app_verify: 1 } });
    expect(y.pareto.map((p) => [p.step, p.errorCode, p.count])).toEqual([['provisioning', 'TIMEOUT', 2], ['app_verify', 'APP_HASH_MISMATCH', 1]]);
    expect(y.pareto[1]?.cumulativeShare).toBe(1);
    expect(yieldBy(units, 'line')).toEqual([expect.objectContaining({ line: 'L7', started: 4 })]);
  });

  it('the configuration fingerprint is the SHA-256 of the values, for more configurations than judge() remembers', () => {
    const a = u('A');
    const facts = given([...setup, a.scan(), a.boot(), a.app(), a.prov(), a.efuse()]).unit('A');
    const sha = (text: string) => createHash('sha256').update(text).digest('hex');
    // Twice over 3,000 distinct configurations: past the memo's bound of 1,024, and repeated ones hit it.
    for (const round of [0, 1]) {
      for (let i = 0; i < 3000; i += round === 0 ? 1 : 7) {
        const image = hash(`app-${i}`);
        const unit: UnitFacts = { ...facts, actual: { ...facts.actual, application: { ...(facts.actual.application as StepValue), value: image } } };
        const values = DRIFT_DIMENSIONS.map((d) => unit.actual[d]?.value);
        expect(values.every((v) => v !== undefined)).toBe(true);
        expect(judge(unit, null).fingerprint).toBe(sha(values.join('\n')));
      }
    }
  });
});
