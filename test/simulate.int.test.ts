/**
 * End to end: the line simulator flashes 1,000 units with injected failures and drift through the real
 * API; the ledger's scrap view counts and drift unit list equal exactly what was injected, and the CRA
 * affected-units query returns exactly the units carrying an image, as JSON pages, CSV and NDJSON.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestLedger, type TestLedger } from './helpers/ledger-fixture.ts';
import { runSimulation, type SimulationResult } from '../src/sim/run-simulation.ts';
import { simulatedAppImage } from '../src/sim/recipe-unit.ts';

let t: TestLedger;
let result: SimulationResult;
// The simulated release is 3.0.0 of the ESP32-S3 recipe; the drifting station writes 2.9.0's application.
const previousImage = simulatedAppImage('2.9.0');
const currentImage = simulatedAppImage('3.0.0');

const get = async (path: string, accept = 'application/json') => {
  const r = await fetch(`${t.url}${path}`, { headers: { authorization: `Bearer ${t.tokens.auditor}`, accept } });
  return { status: r.status, type: r.headers.get('content-type') ?? '', text: await r.text() };
};

beforeAll(async () => {
  t = await startTestLedger();
  const lines: string[] = [];
  result = await runSimulation({
    units: 1000,
    stations: 4,
    seed: 20261124,
    failureRates: { 'write-images': 0.04, 'read-back-images': 0.05, 'write-nvs': 0.03, 'enable-secure-download': 0.02 },
    maxRetriesPerStep: 1,
    maxReworks: 1,
    defectRate: 0.01,
    drift: { station: 'ST-02', fromMinute: 20, minutes: 60 },
    cycleSeconds: 60,
    dataDir: t.dataDir,
    url: t.url,
    json: false,
    out: (l) => lines.push(l),
    progress: () => undefined,
  });
}, 420_000); // some 15,000 signed events over HTTP: well under a minute on a quiet machine, minutes on a loaded one
afterAll(async () => t.stop());

describe('simulated batch of 1,000 units', () => {
  it('the scrap view and the drift view equal exactly what was injected', () => {
    const { truth, scrap, drift } = result;
    // The injection is not trivial: there are scraps, reworks, failures at every step and drifted units.
    expect(truth.scrapped.length).toBeGreaterThan(0);
    expect(truth.reworked.length).toBeGreaterThan(0);
    expect(Object.keys(truth.failures).sort()).toEqual(['enable-secure-download', 'read-back-images', 'write-images', 'write-nvs']);
    expect(truth.drifted.length).toBeGreaterThan(20);

    expect(scrap.started).toBe(1000);
    expect(scrap.scrapped).toBe(truth.scrapped.length);
    expect(scrap.reworked).toBe(truth.reworked.length);
    expect(Math.round(scrap.firstPassYield * 1000)).toBe(truth.firstPass.length);
    for (const [step, codes] of Object.entries(truth.failures)) {
      for (const [errorCode, count] of Object.entries(codes)) {
        expect(scrap.pareto.find((p) => p.step === step && p.errorCode === errorCode)?.count, `${step} ${errorCode}`).toBe(count);
      }
    }
    expect(scrap.pareto.reduce((n, p) => n + p.count, 0)).toBe(Object.values(truth.failures).flatMap((c) => Object.values(c)).reduce((a, b) => a + b, 0));

    // No misses, no false flags.
    expect(drift.driftedUnits.map((u) => u.serial).sort()).toEqual(truth.drifted);
    expect(drift.byDimension).toMatchObject({ application: truth.drifted.length, bootloader: 0, signing_key: 0, provisioning_template: 0, efuse_profile: 0 });
    for (const u of drift.driftedUnits) expect(u.deviations[0]).toMatchObject({ dimension: 'application', value: previousImage, expected: currentImage, station: 'ST-02' });
    expect(drift.fingerprints.filter((f) => f.minority).flatMap((f) => f.serials).sort()).toEqual(expect.arrayContaining(truth.drifted.filter((s) => !truth.scrapped.includes(s))));
    // The recipe's read-back against the release caught every unit written with the previous image: none shipped.
    expect(truth.drifted.filter((s) => !truth.scrapped.includes(s))).toEqual([]);
    expect(result.agrees).toBe(true);
  });

  it('GET /v1/scrap filters by station and line; GET /v1/drift by time', async () => {
    const byStation = JSON.parse((await get('/v1/scrap?station=ST-02')).text) as { started: number; byStation: { station: string }[] };
    expect(byStation.started).toBe(250);
    expect(byStation.byStation.map((s) => s.station)).toEqual(['ST-02']);
    const byLine = JSON.parse((await get('/v1/scrap?line=L1')).text) as { started: number };
    expect(byLine.started).toBe(1000);
    const drift = JSON.parse((await get('/v1/drift')).text) as { drifted: number; units: { serial: string }[] };
    expect(drift.units.map((u) => u.serial).sort()).toEqual(result.truth.drifted);
    const future = JSON.parse((await get(`/v1/drift?since=${new Date(Date.now() + 3_600_000).toISOString()}`)).text) as { drifted: number };
    expect(future.drifted).toBe(0);
    expect((await get('/v1/scrap?from=yesterday')).status).toBe(400);
  });

  it('GET /v1/firmware/:sha256/units finds exactly the units carrying an image, paged, as CSV and as NDJSON', async () => {
    const pages: string[] = [];
    let after = '';
    for (;;) {
      const page = JSON.parse((await get(`/v1/firmware/${previousImage}/units?limit=7${after ? `&after=${after}` : ''}`)).text) as { units: { serial: string; carries: string }[]; next: string | null };
      pages.push(...page.units.map((u) => u.serial));
      expect(page.units.every((u) => u.carries === 'application')).toBe(true);
      if (!page.next) break;
      after = page.next;
    }
    expect(pages).toEqual(result.truth.drifted);

    const csv = await get(`/v1/firmware/${previousImage}/units`, 'text/csv');
    expect(csv.type).toMatch(/^text\/csv/);
    const csvLines = csv.text.trim().split('\r\n');
    expect(csvLines[0]).toBe('serial,batch_id,status,carries,bootloader_sha256,application_sha256,shipped_at,customer,order_ref');
    expect(csvLines.slice(1).map((l) => l.split(',')[0])).toEqual(result.truth.drifted);

    const ndjson = await get(`/v1/firmware/${currentImage}/units`, 'application/x-ndjson');
    const rows = ndjson.text.trim().split('\n').map((l) => JSON.parse(l) as { serial: string; status: string });
    const simulated = rows.filter((r) => r.serial.startsWith('SN')).map((r) => r.serial);
    const expected = Object.entries(result.truth.applicationImage).filter(([, image]) => image === currentImage).map(([serial]) => serial).sort();
    expect(expected.length).toBeGreaterThan(900);
    expect(simulated).toEqual(expected);
    expect((await get('/v1/firmware/not-a-hash/units')).status).toBe(400);
  });
});

describe('a second run of the same seed on the same ledger', () => {
  // Event ids are unique per ledger; the simulator's ids come from its seed, so a rerun (simulate --url --own-ids)
  // used to reuse the first run's ids and stop at 409 EVENT_ID_CONFLICT.
  it('flashes its own batch under its own ids, and the ledger agrees with what it injected', async () => {
    const again = await runSimulation({
      units: 20,
      stations: 2,
      seed: 20261124,
      failureRates: { 'write-images': 0.04 },
      maxRetriesPerStep: 1,
      maxReworks: 1,
      defectRate: 0,
      drift: null,
      cycleSeconds: 60,
      dataDir: t.dataDir,
      url: t.url,
      idPrefix: 'SIM-AGAIN-',
      json: false,
      out: () => undefined,
      progress: () => undefined,
    });
    expect(again.batchId).not.toBe(result.batchId);
    expect(again.truth.started).toBe(20);
    expect(again.agrees).toBe(true);
  }, 120_000);
});
