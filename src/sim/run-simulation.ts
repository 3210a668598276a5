/**
 * `flashtrail simulate`: runs the line simulator against a ledger (its own, started in-process on a data
 * directory, or a running one given by URL and its data directory), then prints the batch's scrap and
 * drift report as the ledger computed it, next to what the simulator injected.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { configFromEnv, initDataDir, startLedgerServer, type RunningLedger } from '../server/main.ts';
import { addToken } from '../api/tokens.ts';
import { readSecretKeyFile } from '../files/key-file.ts';
import { newSigner } from '../crypto/ed25519.ts';
import { EventSigner } from '../event/signer.ts';
import { LedgerClient } from '../client/ledger-client.ts';
import { toHex } from '../crypto/encoding.ts';
import { simulatedAppImage, simulatedRecipeRelease } from './recipe-unit.ts';
import { simulateBatch, SIM_STEPS, type GroundTruth, type SimStation, type SimStep } from './simulator.ts';
import { ADMIN_EVENT_MAX_AGE_MS } from '../domain/event-time.ts';
import type { DriftReport } from '../../projections/drift.ts';
import type { YieldFigures } from '../../projections/yield.ts';

export interface SimulateOptions {
  readonly units: number;
  readonly stations: number;
  readonly seed: number;
  readonly failureRates: Partial<Record<SimStep, number>>;
  readonly maxRetriesPerStep: number;
  readonly maxReworks: number;
  readonly defectRate: number;
  readonly drift: { station: string; fromMinute: number; minutes: number } | null;
  readonly cycleSeconds: number;
  readonly dataDir?: string;
  readonly url?: string;
  /**
   * Put before every station id and the release id the run registers (`SIM-…-ST-01`): on a ledger that is not
   * the simulator's own, its records then never touch the line's real stations and releases.
   */
  readonly idPrefix?: string;
  readonly json: boolean;
  readonly out: (line: string) => void;
  readonly progress: (line: string) => void;
}

export interface SimulationResult {
  readonly batchId: string;
  readonly truth: GroundTruth;
  readonly scrap: YieldFigures & { batchId: string };
  readonly drift: DriftReport & { batchId: string };
  readonly agrees: boolean;
}

/** Per-try failure probabilities of the recipe's steps, of the order a production-side flashing line sees. */
export const DEFAULT_FAILURE_RATES: Record<SimStep, number> = {
  'read-mac': 0.005,
  'burn-flash-encryption': 0.005,
  'write-images': 0.02,
  'read-back-images': 0.02,
  'write-nvs': 0.02,
  'boot-log': 0.01,
  'enable-secure-download': 0.005,
};

/** A simulation that cannot run as asked (said in one line, before anything is written). */
export class SimulationError extends Error {
  override readonly name = 'SimulationError';
}

/** How far back the batch starts: every station works its share of units, one per cycle. */
function simulatedSpanMs(o: Pick<SimulateOptions, 'units' | 'stations' | 'cycleSeconds'>): number {
  return (Math.ceil(o.units / o.stations) + 5) * o.cycleSeconds * 1000;
}

export async function runSimulation(o: SimulateOptions): Promise<SimulationResult> {
  // The batch is laid out in the past, its line set up just before it: the ledger refuses administrator
  // events signed more than ADMIN_EVENT_MAX_AGE_MS ago, so the whole batch must fit in that window.
  const spanMs = simulatedSpanMs(o);
  if (spanMs + 60_000 >= ADMIN_EVENT_MAX_AGE_MS) {
    throw new SimulationError(`${o.units} units on ${o.stations} station(s) at ${o.cycleSeconds} s each span ${(spanMs / 3_600_000).toFixed(1)} h, more than the ${ADMIN_EVENT_MAX_AGE_MS / 3_600_000} h the ledger accepts for the line's setup: use more --stations, fewer --units or a shorter --cycle-seconds`);
  }
  const dataDir = o.dataDir ?? mkdtempSync(join(tmpdir(), 'flashtrail-sim-'));
  const config = configFromEnv({}, { dataDir, port: 0, logLevel: 'warn' });
  const init = initDataDir(config);
  const adminToken = readFileSync(init.adminTokenFile, 'utf8').trim();
  const runTag = Date.now().toString(36).toUpperCase();
  const prefix = o.idPrefix ?? '';
  const stationIds = Array.from({ length: o.stations }, (_, i) => `${prefix}ST-${String(i + 1).padStart(2, '0')}`);
  const tokens = stationIds.map((stationId) => addToken(config.tokensFile, { name: `sim-${runTag}-${stationId}`, role: 'station', stationId }));
  let own: RunningLedger | null = null;
  let url = o.url;
  if (!url) {
    own = await startLedgerServer(config, pino({ level: 'warn' }));
    url = own.url;
  } else {
    await new Promise((r) => setTimeout(r, 1100)); // the ledger re-reads its token file at most once a second
  }
  try {
    const admin = new LedgerClient(url, adminToken);
    const adminSigner = new EventSigner(readSecretKeyFile(init.adminKeyFile), 'admin');
    const release = simulatedRecipeRelease(`${prefix}fw-3.0.0`, 'SENSOR-S3', '3.0.0');
    const previous = { sha256: simulatedAppImage('2.9.0'), version: '2.9.0' };
    const batchId = `B-${runTag}`;
    // The batch's units are simulated as if flashed over the last hours: the line is set up before them.
    const start = new Date(Date.now() - simulatedSpanMs(o));
    const setupAt = new Date(start.getTime() - 60_000);

    const stations: SimStation[] = [];
    for (const [i, stationId] of stationIds.entries()) {
      const key = newSigner();
      const head = await admin.get<{ digest: string | null }>(`/v1/streams/station-${stationId}/head`);
      adminSigner.setHead(`station-${stationId}`, head.digest);
      const events = [
        ...(head.digest === null ? [adminSigner.sign('StationRegistered', { stationId, line: 'L1', site: 'Plant 1', role: 'flash' }, { occurredAt: setupAt }).envelope] : []),
        adminSigner.sign('StationKeyRegistered', { stationId, keyId: key.keyId, publicKey: toHex(key.publicKey), algorithm: 'ed25519' }, { occurredAt: setupAt }).envelope,
      ];
      await admin.appendAdmin(events);
      stations.push({ stationId, signer: new EventSigner(key, stationId), client: new LedgerClient(url, tokens[i] as string) });
    }
    const releaseHead = await admin.get<{ digest: string | null }>(`/v1/streams/release-${release.releaseId}/head`);
    if (releaseHead.digest === null) await admin.appendAdmin([adminSigner.sign('ReleaseApproved', release, { prev: null, occurredAt: setupAt }).envelope]);
    await admin.appendAdmin([adminSigner.sign('BatchOpened', { batchId, releaseId: release.releaseId, line: 'L1', productSku: release.productSku, plannedQuantity: o.units }, { occurredAt: setupAt }).envelope]);

    o.progress(`flashtrail simulate: ${o.units} units on ${o.stations} stations, seed ${o.seed}, batch ${batchId}, ledger ${url}${own ? ` (data in ${dataDir})` : ''}`);
    let lastShown = 0;
    const truth = await simulateBatch(
      {
        seed: o.seed,
        units: o.units,
        batchId,
        serialPrefix: `SN${runTag}-`,
        failureRates: o.failureRates,
        maxRetriesPerStep: o.maxRetriesPerStep,
        maxReworks: o.maxReworks,
        defectRate: o.defectRate,
        drift: o.drift && { ...o.drift, station: `${prefix}${o.drift.station}` },
        cycleSeconds: o.cycleSeconds,
        start,
        operator: 'op-sim',
      },
      stations,
      release,
      previous,
      (done, total) => {
        if (done === total || Date.now() - lastShown > 1000) {
          lastShown = Date.now();
          o.progress(`  flashed ${done}/${total} units`);
        }
      },
    );
    const scrap = await admin.get<YieldFigures & { batchId: string }>(`/v1/batches/${batchId}/scrap`);
    const drift = await admin.get<DriftReport & { batchId: string }>(`/v1/batches/${batchId}/drift`);
    const agrees = compare(truth, scrap, drift).length === 0;
    report(o, truth, scrap, drift);
    return { batchId, truth, scrap, drift, agrees };
  } finally {
    await own?.close();
  }
}

/** Differences between what was injected and what the ledger reports; empty when they agree. */
export function compare(truth: GroundTruth, scrap: YieldFigures, drift: DriftReport): string[] {
  const diffs: string[] = [];
  const check = (what: string, injected: unknown, ledger: unknown) => {
    if (JSON.stringify(injected) !== JSON.stringify(ledger)) diffs.push(`${what}: injected ${JSON.stringify(injected)}, ledger ${JSON.stringify(ledger)}`);
  };
  check('started', truth.started, scrap.started);
  check('scrapped', truth.scrapped.length, scrap.scrapped);
  check('reworked', truth.reworked.length, scrap.reworked);
  check('first-pass units', truth.firstPass.length, Math.round(scrap.firstPassYield * scrap.started));
  const retries = Object.fromEntries(Object.entries(truth.failures).map(([step, codes]) => [step, Object.values(codes).reduce((a, b) => a + b, 0)]));
  check('retries per step', sortKeys(retries), sortKeys(scrap.retriesPerStep));
  const causes = (rows: { step: string; errorCode: string; count: number }[]) => rows.map((r) => `${r.step}/${r.errorCode}=${r.count}`).sort();
  check('failures by step and code', causes(Object.entries(truth.failures).flatMap(([step, codes]) => Object.entries(codes).map(([errorCode, count]) => ({ step, errorCode, count })))), causes([...scrap.pareto]));
  check('drifted units', truth.drifted, drift.driftedUnits.map((u) => u.serial).sort());
  return diffs;
}

const sortKeys = (o: Record<string, number>) => Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
const pct = (x: number) => `${(x * 100).toFixed(2)} %`;

function report(o: SimulateOptions, truth: GroundTruth, scrap: YieldFigures, drift: DriftReport): void {
  const diffs = compare(truth, scrap, drift);
  if (o.json) {
    o.out(JSON.stringify({ truth, scrap, drift, agrees: diffs.length === 0, differences: diffs }, null, 2));
    return;
  }
  const row = (what: string, ledger: string | number, injected: string | number) => o.out(`  ${what.padEnd(32)} ${String(ledger).padStart(10)}   ${String(injected).padStart(10)}`);
  o.out('');
  o.out(`  ${'scrap and yield'.padEnd(32)} ${'ledger'.padStart(10)}   ${'injected'.padStart(10)}`);
  row('units started', scrap.started, truth.started);
  row('first-pass yield', pct(scrap.firstPassYield), pct(truth.firstPass.length / truth.started));
  row('reworked', scrap.reworked, truth.reworked.length);
  row('scrapped', scrap.scrapped, truth.scrapped.length);
  row('scrap rate', pct(scrap.scrapRate), pct(truth.scrapped.length / truth.started));
  for (const step of SIM_STEPS) {
    const injected = Object.values(truth.failures[step] ?? {}).reduce((a, b) => a + b, 0);
    row(`retries: ${step}`, scrap.retriesPerStep[step] ?? 0, injected);
  }
  o.out('  Pareto of failures (ledger):');
  for (const p of scrap.pareto.slice(0, 6)) o.out(`    ${`${p.step} ${p.errorCode}`.padEnd(34)} ${String(p.count).padStart(5)}  ${pct(p.share).padStart(8)}  cumulative ${pct(p.cumulativeShare)}`);
  o.out('');
  o.out(`  ${'configuration drift'.padEnd(32)} ${'ledger'.padStart(10)}   ${'injected'.padStart(10)}`);
  row('drifted units', drift.drifted, truth.drifted.length);
  row('drift rate', pct(drift.driftRate), pct(truth.drifted.length / truth.started));
  for (const [dimension, n] of Object.entries(drift.byDimension)) if (n > 0) row(`  on ${dimension}`, n, '');
  const first = drift.driftedUnits[0]?.deviations[0];
  if (first) o.out(`  e.g. ${drift.driftedUnits[0]?.serial}: ${first.dimension} ${first.value.slice(0, 12)}… expected ${first.expected.slice(0, 12)}…, written by ${first.station} at ${first.at}`);
  const minority = drift.fingerprints.filter((f) => f.minority);
  if (minority.length > 0) o.out(`  configuration fingerprints: ${drift.fingerprints.length}, minority groups ${minority.map((f) => f.units).join(', ')} unit(s)`);
  o.out('');
  o.out(diffs.length === 0 ? '  the ledger\'s views match what was injected' : `  MISMATCH between ledger and injection:\n    ${diffs.join('\n    ')}`);
}
