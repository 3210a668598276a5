/**
 * The ledger at plant and fleet scale: a data set of N events (six per unit: about 1.7M units at 10M events)
 * built by this benchmark, then served by a real `flashtrail serve` process and queried over HTTP:
 *
 *   - provenance document of a random unit, p50 and p99, and the server's CPU per document
 *   - affected units (units carrying an earlier image), first page of 100, p50 and p99
 *   - unit lookup, p99
 *   - the server's memory peak (VmHWM, catching up the Merkle log and the read model included) and its
 *     resident memory after the queries
 *   - bytes on disk per event (event store, Merkle log, read model)
 *
 * at each size asked for, and how each figure grows from the smallest size to the largest.
 *
 * The data set is written straight to the event store (bench/fixtures.ts: events signed with the station's
 * and the administrator's keys, chained, one transaction per 200 units), not through HTTP: bench/append.ts
 * measures the HTTP path. The server then derives its Merkle log and read model from the store at its first
 * start, as after a migration; that time is reported too.
 *
 *   npx tsx bench/scale.ts                       (1M and 10M events: hours on two cores; needs ~35 GB of disk)
 *   npx tsx bench/scale.ts --sizes 100000,1000000
 *   npx tsx bench/scale.ts --events 1000000      (one size: no growth figures)
 *   npx tsx bench/scale.ts --quick               (20k and 100k)   --json
 *   npx tsx bench/scale.ts --data /var/tmp/flashtrail-scale ...
 *       keeps each size's data directory (DIR/<events>) instead of a temporary one, and resumes there: a fill
 *       that was stopped goes on from the last committed unit (bench/fixtures.ts), and a server start over
 *       derived files of an earlier run catches up only what they lack (the figure's description says so).
 *
 * Progress goes to stderr: the fill's events and rate about every 10 s, the first start's derived files every 30 s.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createReport, fmt, quantile, quick, runBench } from './report.ts';
import { fillLedger } from './fixtures.ts';
import { serve } from './http.ts';

const argument = (name: string): string | null => {
  const at = process.argv.indexOf(name);
  return at > 0 ? (process.argv[at + 1] ?? '') : null;
};
const sizesArg = argument('--sizes') ?? argument('--events');
const SIZES = sizesArg !== null ? sizesArg.split(',').map(Number) : quick ? [20_000, 100_000] : [1_000_000, 10_000_000];
if (SIZES.length === 0 || SIZES.length > 2 || SIZES.some((n) => !Number.isSafeInteger(n) || n < 1000)) throw new Error('--sizes takes one or two event counts of at least 1000, comma-separated (--events one)');
/** Where each size's data directory is kept (and resumed); null: a temporary directory, removed after the run. */
const DATA = argument('--data');
const SAMPLES = quick ? 100 : 400;

const results = createReport('scale');

/** A deterministic spread of units over the whole ledger (oldest to newest). */
/** n serials spread over the units in a scattered order; `shift` (0 to 1) moves each by that share of the stride, so a warm-up set is disjoint from the measured one. */
const sampleSerials = (units: number, n: number, shift = 0) => Array.from({ length: n }, (_, i) => `SN${String(1 + Math.floor((((i * 7919) % n) + shift) * (units / n))).padStart(8, '0')}`);
/** Documents served before the measured ones, of other units, not counted (as bench/append.ts's warm-up round). */
const WARM_UP = quick ? 25 : 100;

/**
 * Each path fetched in turn on one kept-alive connection by a client process of its own (bench/timed-gets.mjs,
 * which says why), timed from the request to the last byte of the answer.
 */
async function timedGets(url: string, token: string, paths: readonly string[]): Promise<number[]> {
  const client = spawn(process.execPath, [fileURLToPath(new URL('./timed-gets.mjs', import.meta.url))], { stdio: ['pipe', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  client.stdout.on('data', (c: Buffer) => out.push(c));
  client.stderr.on('data', (c: Buffer) => err.push(c));
  const exited = new Promise<number | null>((resolve, reject) => {
    client.once('error', reject);
    client.once('close', resolve);
  });
  client.stdin.end(JSON.stringify({ url, token, paths }));
  const code = await exited;
  if (code !== 0) throw new Error(`the measuring client failed (exit ${code}): ${Buffer.concat(err).toString('utf8').trim()}`);
  return JSON.parse(Buffer.concat(out).toString('utf8')) as number[];
}

/** Waits (untimed) until `path` answers 200, retrying while the server answers 503 (not ready yet). */
async function untilServed(url: string, token: string, path: string): Promise<void> {
  for (;;) {
    const response = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${token}` } });
    await response.arrayBuffer();
    if (response.status === 200) return;
    if (response.status !== 503) throw new Error(`${path}: ${response.status}`);
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

function memoryOf(pid: number | undefined): { peakMb: number; rssMb: number } | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
    return { peakMb: kb('VmHWM') / 1024, rssMb: kb('VmRSS') / 1024 };
  } catch {
    return null;
  }
}

const bytesOf = (dir: string, prefix: string) => readdirSync(dir).filter((f) => f.startsWith(prefix)).reduce((n, f) => n + statSync(join(dir, f)).size, 0);

/** The machine's 1-minute load average, sampled at each step of a run: the figures are only as quiet as it. */
function loadSampler() {
  const samples: number[] = [];
  const timer = setInterval(() => samples.push(loadavg()[0] as number), 10_000);
  timer.unref();
  return {
    stop: () => {
      clearInterval(timer);
      samples.push(loadavg()[0] as number);
      return { mean: samples.reduce((a, b) => a + b, 0) / samples.length, max: Math.max(...samples) };
    },
  };
}

/** Every 30 s while the first start derives its files: their size on disk, so that a long start shows progress. */
function derivingProgress(dir: string) {
  const started = performance.now();
  const timer = setInterval(() => {
    const mb = (prefix: string) => (bytesOf(dir, prefix) / 1e6).toFixed(0);
    console.error(`  first start, ${Math.round((performance.now() - started) / 1000)} s: merkle.sqlite ${mb('merkle.sqlite')} MB, readmodel.sqlite ${mb('readmodel.sqlite')} MB, unit-map.sqlite ${mb('unit-map.sqlite')} MB`);
  }, 30_000);
  timer.unref();
  return () => clearInterval(timer);
}

async function atSize(label: 'small' | 'large', target: number): Promise<void> {
  const kept = DATA !== null;
  const dir = DATA !== null ? join(DATA, String(target)) : mkdtempSync(join(tmpdir(), 'flashtrail-bench-scale-'));
  if (kept) mkdirSync(dir, { recursive: true, mode: 0o700 });
  const reusedDerived = existsSync(join(dir, 'merkle.sqlite'));
  const load = loadSampler();
  try {
    let t = performance.now();
    const filled = await fillLedger(dir, target, (l) => console.error(l));
    const n = fmt(filled.events);
    results.add(`scale.${label}.events`, `${label} run: events (written straight to the store)`, filled.events, 'events');
    results.add(`scale.${label}.units`, `${label} run: units`, filled.units, 'units');
    const building = filled.written === 0 ? `reused the whole data set in ${dir}: nothing written` : filled.written < filled.events ? `sign, chain, append; in ${dir}, resumed where a run left it: ${fmt(filled.written)} events written` : `sign, chain, append${kept ? `; in ${dir}` : ''}`;
    results.add(`scale.${label}.fill`, `${label} run: building the data set (${building})`, (performance.now() - t) / 1000, 's', 1);

    t = performance.now();
    // The first start derives the Merkle log from the store before it listens: minutes at millions of events.
    const stopProgress = derivingProgress(dir);
    const server = await serve(dir, {}, [], 6 * 3_600_000).finally(stopProgress);
    try {
      const token = readFileSync(filled.init.adminTokenFile, 'utf8').trim();
      // The first start derives the Merkle log; the first read waits for the read model to catch up.
      await timedGets(server.url, token, ['/v1/units/SN00000001']);
      const ready = reusedDerived ? 'start over derived files of an earlier run (only what they lacked derived)' : 'first start, Merkle log and read model derived from the store';
      results.add(`scale.${label}.ready`, `${label} run (${n} events): ${ready}`, (performance.now() - t) / 1000, 's', 1);
      // A provenance document carries the unit history map's proof, served once the map has committed the latest
      // checkpoint (503 before): at millions of events the map can finish deriving after the read model.
      await untilServed(server.url, token, '/v1/units/SN00000001/provenance');
      results.add(`scale.${label}.mapReady`, `${label} run (${n} events): until the first provenance document is served (the unit history map committed)`, (performance.now() - t) / 1000, 's', 1);

      const serials = sampleSerials(filled.units, SAMPLES);
      // A warm-up round first, of other units: a server that has just started compiles its hot code while it
      // serves its first documents (V8's optimising compiler), which a ledger serving for months has done long ago.
      const warmUp = sampleSerials(filled.units, WARM_UP, 0.5);
      await timedGets(server.url, token, warmUp.flatMap((s) => [`/v1/units/${s}/provenance`, `/v1/units/${s}`, `/v1/firmware/${filled.previousImage}/units?limit=100`]));
      // The server's CPU over the documents (from /proc), beside their latency: on a loaded machine the latency's
      // tail is mostly waiting for a core, the CPU is what the document costs.
      const cpuBefore = server.cpuSeconds();
      const mainBefore = server.mainThreadCpuSeconds();
      const provenance = await timedGets(server.url, token, serials.map((s) => `/v1/units/${s}/provenance`));
      const perDocument = (after: number | null, before: number | null) => (after === null || before === null ? null : ((after - before) * 1000) / serials.length);
      results.add(`scale.${label}.provenance.p50`, `${label} run (${n} events): provenance document, p50`, quantile(provenance, 0.5), 'ms', 2);
      results.add(`scale.${label}.provenance.p99`, `${label} run (${n} events): provenance document, p99`, quantile(provenance, 0.99), 'ms', 2);
      results.add(`scale.${label}.provenance.cpu`, `${label} run (${n} events): server CPU per provenance document (all threads, /proc)`, perDocument(server.cpuSeconds(), cpuBefore), 'ms', 2);
      results.add(`scale.${label}.provenance.mainCpu`, `${label} run (${n} events): server main-thread CPU per provenance document`, perDocument(server.mainThreadCpuSeconds(), mainBefore), 'ms', 2);
      const affected = await timedGets(server.url, token, Array.from({ length: SAMPLES / 4 }, () => `/v1/firmware/${filled.previousImage}/units?limit=100`));
      results.add(`scale.${label}.affected.p50`, `${label} run (${n} events): affected units, first page of 100 (of ${fmt(filled.drifted)}), p50`, quantile(affected, 0.5), 'ms', 2);
      results.add(`scale.${label}.affected.p99`, `${label} run (${n} events): affected units, first page of 100, p99`, quantile(affected, 0.99), 'ms', 2);
      const lookups = await timedGets(server.url, token, serials.map((s) => `/v1/units/${s}`));
      results.add(`scale.${label}.unit.p99`, `${label} run (${n} events): unit lookup, p99`, quantile(lookups, 0.99), 'ms', 2);

      const memory = memoryOf(server.child.pid);
      results.add(`scale.${label}.rss.peak`, `${label} run (${n} events): server memory peak (VmHWM, first start included)`, memory?.peakMb ?? null, 'MB');
      results.add(`scale.${label}.rss`, `${label} run (${n} events): server resident memory after the queries`, memory?.rssMb ?? null, 'MB');
    } finally {
      await server.stop();
    }
    const store = bytesOf(dir, 'events.sqlite');
    const derived = bytesOf(dir, 'merkle.sqlite') + bytesOf(dir, 'readmodel.sqlite') + bytesOf(dir, 'unit-map.sqlite');
    results.add(`scale.${label}.disk.store`, `${label} run (${n} events): event store on disk per event`, store / filled.events, 'bytes');
    results.add(`scale.${label}.disk.derived`, `${label} run (${n} events): Merkle log, read model and unit history map on disk per event`, derived / filled.events, 'bytes');
    const { mean, max } = load.stop();
    results.add(`scale.${label}.load.mean`, `${label} run (${n} events): load average of the machine during the run (1-minute, mean of samples every 10 s; ${cpus().length} cores)`, mean, '', 1);
    results.add(`scale.${label}.load.max`, `${label} run (${n} events): load average, highest sample`, max, '', 1);
  } finally {
    if (!kept) rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  console.error(`flashtrail scale benchmark at ${SIZES.map((s) => fmt(s)).join(' and ')} events, node ${process.version}`);
  const small = Math.min(...SIZES);
  const large = Math.max(...SIZES);
  await atSize('small', small);
  if (large !== small) {
    await atSize('large', large);
    const growth = (key: string) => {
      const a = results.get(`scale.small.${key}`);
      const b = results.get(`scale.large.${key}`);
      return a === null || b === null ? null : b / a;
    };
    for (const [key, what] of [
      ['provenance.p99', 'provenance p99'],
      ['affected.p99', 'affected units p99'],
      ['unit.p99', 'unit lookup p99'],
      ['rss', 'resident memory'],
      ['disk.store', 'store bytes per event'],
    ] as const) {
      results.add(`scale.growth.${key}`, `growth of ${what} from ${fmt(small)} to ${fmt(large)} events (${fmt(large / small)}× the events)`, growth(key), '×', 2);
    }
  }
  results.print();
}

runBench(main);
