/**
 * Fills a ledger data directory with a large, realistic event log quickly: station events are signed with
 * node's Ed25519 and appended straight to the store (the HTTP path is measured in bench/append.ts).
 *
 * Resumable: the data set is a pure function of the unit number (event ids, times and data derive from it; the
 * station key is kept in the directory), and each transaction holds whole units, so a fill that was stopped
 * goes on from the last unit the store committed and ends with the same events a single run writes.
 *
 * Fast: signing is most of a unit's cost, so whole units are built, signed and chained on signing threads
 * (bench/fill-worker.ts, one per core by default) while this thread appends the ones before, in unit order.
 * The events are those of the plain construction on this thread (`threads: 0`): both run bench/fill-units.ts,
 * and test/bench-fill.int.test.ts holds the two stores to the same rows.
 */
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { writeFileDurable } from '../src/files/durable.ts';
import { configFromEnv, initDataDir, type InitResult, type LedgerConfig } from '../src/server/main.ts';
import { SqliteEventStore } from '../src/store/sqlite.ts';
import type { AppendRequest } from '../src/store/event-store.ts';
import { readSecretKeyFile, writeSecretKeyFile } from '../src/files/key-file.ts';
import { newSigner } from '../src/crypto/ed25519.ts';
import type { ReleaseFirmware } from '../src/sim/simulated-station.ts';
import { EVENTS_PER_UNIT, HEAD_EVENTS, UNIT_EVENT_TYPES, fillEvents, fillRelease, previousImageOf, serialOf, type FillSetup } from './fill-units.ts';
import type { FillAnswer, FillJob } from './fill-worker.ts';

export interface FilledLedger {
  readonly config: LedgerConfig;
  readonly init: InitResult;
  readonly events: number;
  readonly units: number;
  readonly drifted: number;
  /** Events this call wrote: 0 when the directory already held the whole data set (a rerun reuses it). */
  readonly written: number;
  readonly release: ReleaseFirmware;
  readonly previousImage: string;
  readonly batchId: string;
  /**
   * Appends the flows of further units (six events each, at least `events` events) to `into`, the store of
   * this data directory, e.g. a running ledger's: what a burst of stations catching up looks like. Returns
   * how many events it wrote. `events`, `units` and `drifted` above are as of the fill.
   */
  appendUnits(into: SqliteEventStore, events: number): Promise<number>;
}

export interface FillOptions {
  /** Progress lines (one at the start, then about every 10 s): events written, rate, time left. */
  readonly log?: (line: string) => void;
  /** Signing threads; 0 builds every event on this thread (the plain construction). One per core by default. */
  readonly threads?: number;
}

const UNITS_PER_TRANSACTION = 200;

/** Units first to last (inclusive) as the fill appends them: one request a unit, a fresh stream each. */
type UnitSource = (first: number, last: number) => Promise<AppendRequest[]>;

export async function fillLedger(dir: string, target: number, options: FillOptions | ((line: string) => void) = {}): Promise<FilledLedger> {
  const { log = () => undefined, threads = availableParallelism() } = typeof options === 'function' ? { log: options } : options;
  const config = configFromEnv({}, { dataDir: dir, port: 0 });
  const init = initDataDir(config);
  const store = new SqliteEventStore(join(dir, 'events.sqlite'));
  // The station's key and the clock's origin are the fill's only random inputs: kept, a resumed fill signs on.
  const stationKeyFile = join(dir, 'bench-station.key');
  if (!existsSync(stationKeyFile)) writeSecretKeyFile(stationKeyFile, newSigner(), 'bench/fixtures.ts station ST-01');
  const originFile = join(dir, 'bench-fill.json');
  if (!existsSync(originFile)) writeFileDurable(originFile, JSON.stringify({ originMs: Date.now() - 3 * 86_400_000 }) + '\n', { mode: 0o600 });
  const { originMs } = JSON.parse(readFileSync(originFile, 'utf8')) as { originMs: number };
  const setup: FillSetup = { originMs, station: readSecretKeyFile(stationKeyFile), admin: readSecretKeyFile(init.adminKeyFile), ledger: readSecretKeyFile(join(dir, 'ledger.key')) };
  const events = fillEvents(setup);
  const here: UnitSource = (first, last) => Promise.resolve(Array.from({ length: last - first + 1 }, (_, i) => ({ stream: `unit-${serialOf(first + i)}`, events: events.unit(first + i), expected: 'no_stream' as const })));
  // The ledger records its trusted administrator keys first, as a running ledger does at start.
  const wroteHead = (await store.headPosition()) < 0n;
  if (wroteHead) await store.appendToStreams(events.head());
  const wanted = Math.max(0, Math.ceil((target - HEAD_EVENTS) / EVENTS_PER_UNIT));
  let units = await unitsCommitted(store);
  const resumedAt = units;
  const started = performance.now();
  let reported = started;
  const progress = (final: boolean) => {
    const written = HEAD_EVENTS + units * EVENTS_PER_UNIT;
    const seconds = (performance.now() - started) / 1000;
    const rate = ((units - resumedAt) * EVENTS_PER_UNIT) / Math.max(seconds, 1e-3);
    const left = rate > 0 ? ((wanted - units) * EVENTS_PER_UNIT) / rate : Number.NaN;
    const percent = wanted === 0 ? 100 : (100 * units) / wanted;
    log(`  ${final ? 'wrote' : 'writing'} ${written.toLocaleString('en-US')} of ${(HEAD_EVENTS + wanted * EVENTS_PER_UNIT).toLocaleString('en-US')} events (${percent.toFixed(1)} %), ${Math.round(rate).toLocaleString('en-US')} events/s${final || !Number.isFinite(left) ? '' : `, about ${Math.ceil(left / 60)} min left`}`);
  };
  if (resumedAt > 0) log(`  resuming the data set in ${dir}: ${resumedAt.toLocaleString('en-US')} units already in the store`);
  progress(false);
  /** Writes whole units (200 a transaction, in order) into `into` until `last` units exist, a few transactions' units built ahead. */
  const writeUnitsUpTo = async (into: SqliteEventStore, last: number, source: UnitSource, ahead: number, report: boolean) => {
    const building: Promise<AppendRequest[]>[] = [];
    let planned = units;
    const plan = () => {
      while (building.length < ahead && planned < last) {
        const next = source(planned + 1, Math.min(last, planned + UNITS_PER_TRANSACTION));
        next.catch(() => undefined); // awaited in turn below; a failure ahead of its turn is not unhandled
        building.push(next);
        planned = Math.min(last, planned + UNITS_PER_TRANSACTION);
      }
    };
    plan();
    for (let next = building.shift(); next !== undefined; next = building.shift()) {
      const requests = await next;
      plan();
      await into.appendToStreams(requests);
      units += requests.length;
      if (report && performance.now() - reported > 10_000) {
        reported = performance.now();
        progress(false);
      }
    }
  };
  const signing = threads > 0 && units < wanted ? signingThreads(setup, threads) : null;
  try {
    await writeUnitsUpTo(store, wanted, signing?.units ?? here, signing ? 2 * threads : 1, true);
  } finally {
    await signing?.close();
  }
  progress(true);
  await store.close();
  // Every 50th unit carries the earlier image (the affected-units query's answer).
  const filled = { events: HEAD_EVENTS + units * EVENTS_PER_UNIT, units, drifted: Math.floor(units / 50), written: (units - resumedAt) * EVENTS_PER_UNIT + (wroteHead ? HEAD_EVENTS : 0) };
  return {
    config,
    init,
    ...filled,
    release: fillRelease(),
    previousImage: previousImageOf(),
    batchId: 'B-1',
    async appendUnits(into, count) {
      const before = units;
      await writeUnitsUpTo(into, units + Math.ceil(count / EVENTS_PER_UNIT), here, 1, false);
      return (units - before) * EVENTS_PER_UNIT;
    },
  };
}

/** `threads` signing threads (bench/fill-worker.ts), given transactions' units in turn. */
function signingThreads(setup: FillSetup, threads: number): { units: UnitSource; close: () => Promise<void> } {
  const url = new URL('./fill-worker-boot.mjs', import.meta.url);
  const waiting = new Map<number, { first: number; resolve: (requests: AppendRequest[]) => void; reject: (error: unknown) => void }>();
  const fail = (error: unknown) => {
    for (const w of waiting.values()) w.reject(error);
    waiting.clear();
  };
  const workers = Array.from({ length: threads }, () => {
    const worker = new Worker(url, { workerData: setup });
    worker.on('message', ({ job, ids, bytes, ends }: FillAnswer) => {
      const w = waiting.get(job);
      if (!w) return;
      waiting.delete(job);
      const requests: AppendRequest[] = [];
      for (let u = 0; u * EVENTS_PER_UNIT < ids.length; u++) {
        const unitEvents = UNIT_EVENT_TYPES.map((type, k) => {
          const i = u * EVENTS_PER_UNIT + k;
          return { id: ids[i] as string, type, data: bytes.subarray(i === 0 ? 0 : (ends[i - 1] as number), ends[i] as number) };
        });
        requests.push({ stream: `unit-${serialOf(w.first + u)}`, events: unitEvents, expected: 'no_stream' });
      }
      w.resolve(requests);
    });
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`a fill signing thread exited (${code})`)));
    return worker;
  });
  let jobs = 0;
  return {
    units: (first, last) =>
      new Promise((resolve, reject) => {
        const job = jobs++;
        waiting.set(job, { first, resolve, reject });
        (workers[job % threads] as Worker).postMessage({ job, first, last } satisfies FillJob);
      }),
    close: async () => {
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}

/** The units a (possibly interrupted) fill committed: units are written in serial order, whole, so the last one tells. */
async function unitsCommitted(store: SqliteEventStore): Promise<number> {
  const exists = async (unit: number) => (await store.readStream(`unit-${serialOf(unit)}`, { maxCount: 1 })).length > 0;
  if (!(await exists(1))) return 0;
  let low = 1;
  let high = 2;
  while (await exists(high)) {
    low = high;
    high *= 2;
  }
  while (high - low > 1) {
    const middle = Math.floor((low + high) / 2);
    if (await exists(middle)) low = middle;
    else high = middle;
  }
  return low;
}
