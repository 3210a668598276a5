/**
 * Append throughput through the HTTP API of a real `flashtrail serve` process on the embedded store and,
 * when PostgreSQL is installed (or FLASHTRAIL_BENCH_POSTGRES_URL names a server), on PostgreSQL, each next to
 * references measured in the same run on the same machine: raw inserts with the same durability settings,
 * and node's native (OpenSSL) Ed25519 verify next to the strict verify paths the ledger uses.
 *
 *   - 64 stations, each sending whole unit flows (scan → … → ship) one event per request, concurrently over
 *     keep-alive connections: events/s and the latency of each request (p50, p99). Every 201 is durable.
 *   - one client: single-event requests one after another, and batches of 100.
 *
 * Events are signed before the clock starts (signing happens at the stations), and the server is sent a
 * warm-up round of unit flows first (not counted): the figures are of a server whose hot code is compiled.
 *
 *   npm run bench            (about two minutes; builds first)
 *   npm run bench -- --quick (smaller counts)   --json (one JSON object of the figures)
 *   --sqlite-only (no PostgreSQL)   --stations-only (the 64-station SQLite run alone)   --sequential-only (the
 *   one-client figures and their raw references alone)   --profile DIR (a V8 CPU profile of the SQLite server)
 *   --profile-batch DIR (one more server, sent only the batches of 100, profiled)
 */
import { createPublicKey, createPrivateKey, sign as nodeSign, verify as nodeVerify, randomUUID } from 'node:crypto';
import { createReport, perSecond, quantile, quick, runBench } from './report.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { fromBase64 } from '../src/crypto/encoding.ts';
import { pae } from '../src/crypto/dsse.ts';
import { verifyStrictPortable, type Signer } from '../src/crypto/ed25519.ts';
import { verifyStrict } from '../src/native/ed25519.ts';
import type { DsseEnvelope } from '../src/crypto/dsse.ts';
import pg from 'pg';
import { startCluster } from '../test/helpers/postgres-cluster.ts';
import { KeepAliveClient, startBenchLedger, timedAppend, unitFlow, type BenchServer } from './http.ts';

const STATIONS = 64;
const UNITS_PER_STATION = quick ? 15 : 120;
/**
 * Unit flows each station sends before the clock starts: the server's first few thousand requests pay for
 * V8 compiling its hot code (measured with perf: a fifth of a quick run's CPU was TurboFan on the platform
 * threads), which a ledger that runs for months does not.
 */
const WARMUP_UNITS_PER_STATION = quick ? 8 : 20;
/** Enough single-event requests for their CPU figure to mean something on a loaded machine: 300 spread ±400 µs per event at load 10 (2026-12-06). */
const N_SINGLE = quick ? 1000 : 3000;
const N_BATCHED = quick ? 2000 : 20_000;
const N_VERIFY = quick ? 500 : 5000;

const results = createReport('append');
/** `--profile DIR`: the SQLite server writes a V8 CPU profile there. */
const profileAt = process.argv.indexOf('--profile');
const profileDir = profileAt > 0 ? process.argv[profileAt + 1] : undefined;
const onlySqlite = process.argv.includes('--sqlite-only');
/** `--stations-only`: the 64-station SQLite run alone (with `--profile`, a profile of just that load). */
const onlyStations = process.argv.includes('--stations-only');
/** `--sequential-only`: the one-client figures alone (single events, batches of 100) and their raw references. */
const onlySequential = process.argv.includes('--sequential-only');
/** `--profile-batch DIR`: one more SQLite server, sent only the batches of 100, writes a V8 CPU profile there. */
const profileBatchAt = process.argv.indexOf('--profile-batch');
const profileBatchDir = profileBatchAt > 0 ? process.argv[profileBatchAt + 1] : undefined;

/** Which parts of the HTTP run a server is sent; all of them unless a flag narrows the run. */
interface Parts {
  readonly stations?: boolean;
  readonly single?: boolean;
}

/**
 * The HTTP append figures on one store; returns a signed event for the verify figures. `stationsOnly`: the
 * 64-station run alone (a comparison run of the same server with another setting).
 */
async function httpAppend(label: string, prefix: string, env: Record<string, string>, nodeArgs: readonly string[] = [], stationsOnly = false, parts: Parts = {}): Promise<{ envelope: DsseEnvelope; key: Signer }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'flashtrail-bench-'));
  const ledger = await startBenchLedger(dataDir, STATIONS, env, nodeArgs);
  try {
    const { release, stations } = ledger;

    // 64 stations at once, each flashing its units one after another, one event per request.
    const flows = parts.stations === false ? [] : stations.map((s) => Array.from({ length: UNITS_PER_STATION }, (_, u) => unitFlow(s, release, `${s.stationId}-U${u}`)).flat());
    const one = stations[0]!;
    const scan = (serial: string) => one.signer.sign('UnitScanned', { serial, batchId: 'B-1', station: one.stationId, operator: 'op', productSku: 'SENSOR-S3', hardwareRevision: 'rev-C' }).envelope;
    const singles = Array.from({ length: N_SINGLE }, (_, i) => scan(`S-${i}`));
    const batched = Array.from({ length: N_BATCHED }, (_, i) => scan(`M-${i}`));
    const http = new KeepAliveClient(ledger.server.url, STATIONS);
    const total = flows.reduce((n, f) => n + f.length, 0);
    const warmup = stations.map((s) => Array.from({ length: WARMUP_UNITS_PER_STATION }, (_, u) => unitFlow(s, release, `${s.stationId}-W${u}`)).flat());
    await Promise.all(
      stations.map(async (s, i) => {
        for (const signed of warmup[i] ?? []) await timedAppend(http, s.token, [signed.envelope]);
      }),
    );
    const latencies: number[] = [];
    // Each phase's CPU is counted from a settled server to a settled server: the background work its appends
    // leave (read model, Merkle log, unit map, checkpoints) is billed to it, not to the phase measured next.
    await settle(ledger.server);
    const cpuBefore = ledger.server.cpuSeconds();
    const mainBefore = ledger.server.mainThreadCpuSeconds();
    let t = performance.now();
    if (parts.stations !== false) {
      await Promise.all(
        stations.map(async (s, i) => {
          for (const signed of flows[i] ?? []) latencies.push(await timedAppend(http, s.token, [signed.envelope]));
        }),
      );
      const ms = performance.now() - t;
      await settle(ledger.server);
      const cpuAfter = ledger.server.cpuSeconds();
      const mainAfter = ledger.server.mainThreadCpuSeconds();
      results.add(`${prefix}.stations64.rate`, `${label}: ${STATIONS} stations concurrently, whole unit flows, 1 event per request (${total.toLocaleString('en-US')} events)`, perSecond(total, ms), 'events/s');
      results.add(`${prefix}.stations64.p50`, `${label}: ${STATIONS} stations, request latency p50`, quantile(latencies, 0.5), 'ms', 1);
      results.add(`${prefix}.stations64.p99`, `${label}: ${STATIONS} stations, request latency p99`, quantile(latencies, 0.99), 'ms', 1);
      // CPU time is what a loaded machine does not distort: the server's whole cost of one event.
      results.add(`${prefix}.stations64.cpu`, `${label}: ${STATIONS} stations, server CPU time per event (HTTP, decode, verify, decide, write, log)`, cpuBefore === null || cpuAfter === null ? null : ((cpuAfter - cpuBefore) / total) * 1e6, 'µs', 0);
      // The main thread's share: what one core must carry (the signature workers and the store writer have their own threads).
      results.add(`${prefix}.stations64.cpu.main`, `${label}: ${STATIONS} stations, server main-thread CPU time per event (HTTP, decode, decide, read side)`, mainBefore === null || mainAfter === null ? null : ((mainAfter - mainBefore) / total) * 1e6, 'µs', 0);
    }
    if (stationsOnly) {
      http.close();
      return { envelope: singles[0] as DsseEnvelope, key: one.key };
    }

    /** CPU of the whole server and of its main thread, per event, from `at` to now (once settled). */
    const cpuAt = () => ({ all: ledger.server.cpuSeconds(), main: ledger.server.mainThreadCpuSeconds() });
    const perEvent = (before: number | null, after: number | null, n: number) => (before === null || after === null ? null : ((after - before) / n) * 1e6);
    const addCpu = (key: string, what: string, before: ReturnType<typeof cpuAt>, n: number) => {
      const after = cpuAt();
      results.add(`${prefix}.${key}.cpu`, `${label}: ${what}, server CPU time per event`, perEvent(before.all, after.all, n), 'µs');
      results.add(`${prefix}.${key}.cpu.main`, `${label}: ${what}, server main-thread CPU time per event`, perEvent(before.main, after.main, n), 'µs');
    };
    if (parts.single !== false) {
      await settle(ledger.server);
      const before = cpuAt();
      t = performance.now();
      for (const e of singles) await timedAppend(http, one.token, [e]);
      results.add(`${prefix}.sequential.single`, `${label}: one client, 1 event per request, sequential`, perSecond(N_SINGLE, performance.now() - t), 'events/s');
      await settle(ledger.server);
      addCpu('sequential.single', 'one client, 1 event per request', before, N_SINGLE);
    }

    await settle(ledger.server);
    const before = cpuAt();
    t = performance.now();
    for (let i = 0; i < batched.length; i += 100) await timedAppend(http, one.token, batched.slice(i, i + 100));
    results.add(`${prefix}.sequential.batch100`, `${label}: one client, batches of 100, sequential`, perSecond(N_BATCHED, performance.now() - t), 'events/s');
    await settle(ledger.server);
    addCpu('sequential.batch100', 'one client, batches of 100', before, N_BATCHED);
    http.close();
    return { envelope: singles[0] as DsseEnvelope, key: one.key };
  } catch (error) {
    console.error(`the ledger's last log lines:\n${ledger.server.logTail()}`);
    throw error;
  } finally {
    await ledger.server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Waits for the server's background work to end (BenchServer.settled); says so when it did not. */
async function settle(server: BenchServer): Promise<void> {
  if (!(await server.settled())) console.error('  the server did not settle within 30 s: the next CPU figure includes what it was still doing');
}

/** Raw PostgreSQL inserts of the same row size, as the store commits them (synchronous_commit on). */
async function rawPostgres(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query('CREATE TABLE raw_t (position bigint PRIMARY KEY, id text UNIQUE, data bytea)');
  const blob = Buffer.alloc(1100, 7);
  let position = 0;
  const insertRows = async (n: number, lock: boolean) => {
    await client.query('BEGIN');
    if (lock) await client.query('SELECT pg_advisory_xact_lock(42)');
    await client.query('INSERT INTO raw_t SELECT * FROM unnest($1::bigint[], $2::text[], $3::bytea[])', [
      Array.from({ length: n }, () => ++position),
      Array.from({ length: n }, () => randomUUID()),
      Array.from({ length: n }, () => blob),
    ]);
    await client.query('COMMIT');
  };
  let t = performance.now();
  for (let i = 0; i < N_SINGLE; i++) await insertRows(1, false);
  results.add('ref.postgres.raw1', 'reference: raw PostgreSQL insert, 1 row per transaction', perSecond(N_SINGLE, performance.now() - t), 'rows/s');
  t = performance.now();
  for (let i = 0; i < N_SINGLE; i++) await insertRows(1, true);
  results.add('ref.postgres.raw1locked', 'reference: raw PostgreSQL insert, 1 row per transaction under an advisory lock', perSecond(N_SINGLE, performance.now() - t), 'rows/s');
  t = performance.now();
  for (let i = 0; i < N_BATCHED; i += 100) await insertRows(100, true);
  results.add('ref.postgres.raw100locked', 'reference: raw PostgreSQL insert, 100 rows per transaction under an advisory lock', perSecond(N_BATCHED, performance.now() - t), 'rows/s');
  await client.end();
}

/** A PostgreSQL server to measure on: the one named, or a throwaway cluster; null (and why) without one. */
async function postgresForBench(): Promise<{ url: string; stop(): Promise<void> } | string> {
  const cluster = process.env['FLASHTRAIL_BENCH_POSTGRES_URL'] ? null : await startCluster();
  const adminUrl = process.env['FLASHTRAIL_BENCH_POSTGRES_URL'] ?? (cluster?.availability.available ? cluster.availability.target.adminUrl : null);
  if (!adminUrl) return cluster && !cluster.availability.available ? cluster.availability.reason : 'no PostgreSQL';
  const name = `bench_${randomUUID().slice(0, 8)}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    stop: async () => {
      await admin.query(`DROP DATABASE ${name} WITH (FORCE)`);
      await admin.end();
      cluster?.stop();
    },
  };
}

async function main() {
  const dataDir = mkdtempSync(join(tmpdir(), 'flashtrail-bench-'));
  console.error(`flashtrail append benchmark (${quick ? 'quick' : 'full'}), node ${process.version}`);
  const { envelope, key } = await httpAppend('SQLite', 'sqlite', {}, profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [], onlyStations, onlySequential ? { stations: false } : {});
  if (profileBatchDir) {
    // Its own server, so that the profile holds the batches and nothing of the other parts (its figures are slowed by the profiler).
    await httpAppend('SQLite, profiled (--profile-batch), batches of 100 only', 'sqlite.profiledBatch', {}, ['--cpu-prof', `--cpu-prof-dir=${profileBatchDir}`], false, { stations: false, single: false });
  }
  if (onlyStations) {
    rmSync(dataDir, { recursive: true, force: true });
    results.add('load', `load average of the machine at the end of the run (1-minute; ${availableParallelism()} cores): the figures are only as quiet as it`, loadavg()[0] as number, '', 1);
    results.print();
    return;
  }
  if (!onlySequential) {
    // The same server with every signature verified on the thread that decides and writes (no worker threads).
    await httpAppend('SQLite, signatures verified on the writer thread', 'sqlite.writerVerify', { FLASHTRAIL_VERIFY_THREADS: '0' }, [], true);
    // The same server with the Merkle log's appends on the thread that serves requests, as before they had their own.
    await httpAppend('SQLite, Merkle log appended on the serving thread (FLASHTRAIL_MERKLE_THREAD=off)', 'sqlite.merkleOnMain', { FLASHTRAIL_MERKLE_THREAD: 'off' }, [], true);
    // The same server with no minimum wait before the live read-model pass: what the 10 ms wait buys (or costs).
    // Under load the pass still waits four times its own last duration (src/server/main.ts, liveReadModel).
    await httpAppend('SQLite, read-model pass with no minimum wait (FLASHTRAIL_PROJECTION_SETTLE_MS=0)', 'sqlite.settle0', { FLASHTRAIL_PROJECTION_SETTLE_MS: '0' });
  }

  // Reference: what SQLite itself does on this disk with the same durability (WAL, synchronous=FULL).
  const raw = new Database(join(dataDir, 'raw.sqlite'));
  raw.pragma('journal_mode = WAL');
  raw.pragma('synchronous = FULL');
  raw.exec('CREATE TABLE t (position INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE, data BLOB)');
  const insert = raw.prepare('INSERT INTO t (id, data) VALUES (?, ?)');
  const blob = Buffer.alloc(1100, 7);
  let t = performance.now();
  for (let i = 0; i < N_SINGLE; i++) insert.run(randomUUID(), blob);
  results.add('ref.sqlite.raw1', 'reference: raw SQLite insert, 1 row per transaction', perSecond(N_SINGLE, performance.now() - t), 'rows/s');
  const many = raw.transaction((n: number) => {
    for (let i = 0; i < n; i++) insert.run(randomUUID(), blob);
  });
  t = performance.now();
  for (let i = 0; i < N_BATCHED; i += 100) many(100);
  results.add('ref.sqlite.raw100', 'reference: raw SQLite insert, 100 rows per transaction', perSecond(N_BATCHED, performance.now() - t), 'rows/s');
  raw.close();
  const ratio = (a: string, b: string) => ((results.get(a) ?? Number.NaN) / (results.get(b) ?? Number.NaN)) * 100;
  results.add('sqlite.sequential.single.ratio', 'SQLite: one client, 1 event per request, share of the raw 1-row insert rate (goal 40 %)', ratio('sqlite.sequential.single', 'ref.sqlite.raw1'), '%');
  results.add('sqlite.sequential.batch100.ratio', 'SQLite: one client, batches of 100, share of the raw 100-row insert rate (goal 30 %)', ratio('sqlite.sequential.batch100', 'ref.sqlite.raw100'), '%');

  const postgres = onlySqlite ? 'not asked for (--sqlite-only)' : await postgresForBench();
  if (typeof postgres === 'string') console.error(`  PostgreSQL figures skipped: ${postgres}`);
  else {
    try {
      await httpAppend('PostgreSQL', 'postgres', { FLASHTRAIL_STORE: 'postgres', FLASHTRAIL_POSTGRES_URL: postgres.url }, [], false, onlySequential ? { stations: false } : {});
      await rawPostgres(postgres.url);
    } finally {
      await postgres.stop();
    }
  }

  // Ed25519 verify of a real event's PAE bytes: the ledger's strict paths next to node's bare OpenSSL verify.
  const message = pae(envelope.payloadType, fromBase64(envelope.payload));
  const signature = fromBase64(envelope.signatures[0]!.sig);
  t = performance.now();
  for (let i = 0; i < N_VERIFY; i++) if (!verifyStrict(signature, message, key.publicKey)) throw new Error('verify failed');
  results.add('verify.native', 'Ed25519 verify, ledger path (OpenSSL + strict RFC 8032 checks)', perSecond(N_VERIFY, performance.now() - t), 'ops/s');
  t = performance.now();
  for (let i = 0; i < N_VERIFY; i++) if (!verifyStrictPortable(signature, message, key.publicKey)) throw new Error('verify failed');
  results.add('verify.portable', 'Ed25519 verify, portable path (@noble/ed25519, zip215: false)', perSecond(N_VERIFY, performance.now() - t), 'ops/s');
  const spki = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(key.publicKey)]), format: 'der', type: 'spki' });
  t = performance.now();
  for (let i = 0; i < N_VERIFY; i++) if (!nodeVerify(null, message, spki, signature)) throw new Error('verify failed');
  results.add('ref.verify.node', "reference: Ed25519 verify, node's crypto.verify (OpenSSL)", perSecond(N_VERIFY, performance.now() - t), 'ops/s');
  const pkcs8 = createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.from(key.secretKey)]), format: 'der', type: 'pkcs8' });
  if (!nodeVerify(null, message, spki, nodeSign(null, message, pkcs8))) throw new Error('self-check failed');

  rmSync(dataDir, { recursive: true, force: true });
  results.add('load', `load average of the machine at the end of the run (1-minute; ${availableParallelism()} cores): the figures are only as quiet as it`, loadavg()[0] as number, '', 1);
  results.print();
}

runBench(main);
