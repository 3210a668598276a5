/**
 * Append throughput through the HTTP API on the embedded store and, when PostgreSQL is installed (or
 * FLASHTRAIL_BENCH_POSTGRES_URL names a server), on PostgreSQL, each next to references measured in the
 * same run on the same machine: raw inserts with the same durability settings, and node's native (OpenSSL)
 * Ed25519 verify next to the strict @noble/ed25519 verify the ledger uses.
 *
 *   npm run bench            (about a minute)
 *   npm run bench -- --quick (a few seconds, smaller counts)
 */
import { createPublicKey, createPrivateKey, sign as nodeSign, verify as nodeVerify, randomUUID } from 'node:crypto';
import { createReport, fmt, runBench } from './report.ts';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { configFromEnv, initDataDir, startLedgerServer } from '../src/server/main.ts';
import { addToken } from '../src/api/tokens.ts';
import { readSecretKeyFile } from '../src/files/key-file.ts';
import { newSigner, type Signer } from '../src/crypto/ed25519.ts';
import { EventSigner } from '../src/event/signer.ts';
import { LedgerClient } from '../src/client/ledger-client.ts';
import { fromBase64 } from '../src/crypto/encoding.ts';
import { lineSetupEvents } from '../src/sim/line-setup.ts';
import { pae } from '../src/crypto/dsse.ts';
import { verifyStrictPortable } from '../src/crypto/ed25519.ts';
import { verifyStrict } from '../src/native/ed25519.ts';
import { simulatedRelease } from '../src/sim/simulated-station.ts';
import type { LedgerConfig } from '../src/server/config.ts';
import type { DsseEnvelope } from '../src/crypto/dsse.ts';
import pg from 'pg';
import { startCluster } from '../test/helpers/postgres-cluster.ts';

const quick = process.argv.includes('--quick');
const N_SINGLE = quick ? 300 : 3000;
const N_BATCHED = quick ? 2000 : 20_000;
const N_VERIFY = quick ? 500 : 5000;

const rate = (n: number, ms: number) => fmt((n / ms) * 1000);
const results = createReport();

/** The two HTTP append figures on one store; returns a signed event for the verify figures. */
async function httpAppend(label: string, store: Partial<LedgerConfig>): Promise<{ envelope: DsseEnvelope; key: Signer }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'flashtrail-bench-'));
  const config = configFromEnv({}, { dataDir, port: 0, ...store });
  const init = initDataDir(config);
  const stationToken = addToken(config.tokensFile, { name: 'bench', role: 'station', stationId: 'ST-01' });
  const ledger = await startLedgerServer(config, pino({ level: 'warn' }));
  const admin = new EventSigner(readSecretKeyFile(init.adminKeyFile), 'admin');
  const key = newSigner();
  const release = simulatedRelease('R-1', 'SENSOR-S3', '1.0.0');
  await new LedgerClient(ledger.url, readFileSync(init.adminTokenFile, 'utf8').trim()).appendAdmin(
    lineSetupEvents(admin, { stations: [{ stationId: 'ST-01', key }], release, batch: { batchId: 'B-1', line: 'L1', plannedQuantity: 1_000_000 } }),
  );
  const client = new LedgerClient(ledger.url, stationToken);
  const signer = new EventSigner(key, 'ST-01');
  const scan = (serial: string) =>
    signer.sign('UnitScanned', { serial, batchId: 'B-1', station: 'ST-01', operator: 'op', productSku: 'SENSOR-S3', hardwareRevision: 'rev-C' }).envelope;

  // Signing happens at the station, so it is done before the clock starts.
  const singles = Array.from({ length: N_SINGLE }, (_, i) => scan(`S-${i}`));
  let t = performance.now();
  for (const e of singles) await client.append([e]);
  results.add(`${label}: HTTP append, 1 event per request, sequential`, rate(N_SINGLE, performance.now() - t), 'events/s');

  const batched = Array.from({ length: N_BATCHED }, (_, i) => scan(`M-${i}`));
  t = performance.now();
  for (let i = 0; i < batched.length; i += 100) await client.append(batched.slice(i, i + 100));
  results.add(`${label}: HTTP append, batches of 100`, rate(N_BATCHED, performance.now() - t), 'events/s');
  await ledger.close();
  rmSync(dataDir, { recursive: true, force: true });
  return { envelope: singles[0] as DsseEnvelope, key };
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
  results.add('reference: raw PostgreSQL insert, 1 row per transaction', rate(N_SINGLE, performance.now() - t), 'rows/s');
  t = performance.now();
  for (let i = 0; i < N_SINGLE; i++) await insertRows(1, true);
  results.add('reference: raw PostgreSQL insert, 1 row per transaction under an advisory lock', rate(N_SINGLE, performance.now() - t), 'rows/s');
  t = performance.now();
  for (let i = 0; i < N_BATCHED; i += 100) await insertRows(100, true);
  results.add('reference: raw PostgreSQL insert, 100 rows per transaction under an advisory lock', rate(N_BATCHED, performance.now() - t), 'rows/s');
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
  const { envelope, key } = await httpAppend('SQLite', {});

  // Reference: what SQLite itself does on this disk with the same durability (WAL, synchronous=FULL).
  const raw = new Database(join(dataDir, 'raw.sqlite'));
  raw.pragma('journal_mode = WAL');
  raw.pragma('synchronous = FULL');
  raw.exec('CREATE TABLE t (position INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE, data BLOB)');
  const insert = raw.prepare('INSERT INTO t (id, data) VALUES (?, ?)');
  const blob = Buffer.alloc(1100, 7);
  let t = performance.now();
  for (let i = 0; i < N_SINGLE; i++) insert.run(randomUUID(), blob);
  results.add('reference: raw SQLite insert, 1 row per transaction', rate(N_SINGLE, performance.now() - t), 'rows/s');
  const many = raw.transaction((n: number) => {
    for (let i = 0; i < n; i++) insert.run(randomUUID(), blob);
  });
  t = performance.now();
  for (let i = 0; i < N_BATCHED; i += 100) many(100);
  results.add('reference: raw SQLite insert, 100 rows per transaction', rate(N_BATCHED, performance.now() - t), 'rows/s');
  raw.close();

  const postgres = await postgresForBench();
  if (typeof postgres === 'string') console.error(`  PostgreSQL figures skipped: ${postgres}`);
  else {
    try {
      await httpAppend('PostgreSQL', { store: 'postgres', postgresUrl: postgres.url });
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
  results.add('Ed25519 verify, ledger path (OpenSSL + strict RFC 8032 checks)', rate(N_VERIFY, performance.now() - t), 'ops/s');
  t = performance.now();
  for (let i = 0; i < N_VERIFY; i++) if (!verifyStrictPortable(signature, message, key.publicKey)) throw new Error('verify failed');
  results.add('Ed25519 verify, portable path (@noble/ed25519, zip215: false)', rate(N_VERIFY, performance.now() - t), 'ops/s');
  const spki = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(key.publicKey)]), format: 'der', type: 'spki' });
  t = performance.now();
  for (let i = 0; i < N_VERIFY; i++) if (!nodeVerify(null, message, spki, signature)) throw new Error('verify failed');
  results.add("reference: Ed25519 verify, node's crypto.verify (OpenSSL)", rate(N_VERIFY, performance.now() - t), 'ops/s');
  const pkcs8 = createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.from(key.secretKey)]), format: 'der', type: 'pkcs8' });
  if (!nodeVerify(null, message, spki, nodeSign(null, message, pkcs8))) throw new Error('self-check failed');

  rmSync(dataDir, { recursive: true, force: true });
  results.print();
}

runBench(main);
