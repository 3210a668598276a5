/**
 * Append throughput through the HTTP API on the embedded store, next to references measured in the same
 * run on the same machine: raw SQLite inserts with the same durability settings, and node's native
 * (OpenSSL) Ed25519 verify next to the strict @noble/ed25519 verify the ledger uses.
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
import { newSigner } from '../src/crypto/ed25519.ts';
import { EventSigner } from '../src/event/signer.ts';
import { LedgerClient } from '../src/client/ledger-client.ts';
import { fromBase64 } from '../src/crypto/encoding.ts';
import { lineSetupEvents } from '../src/sim/line-setup.ts';
import { pae } from '../src/crypto/dsse.ts';
import { verifyStrictPortable } from '../src/crypto/ed25519.ts';
import { verifyStrict } from '../src/native/ed25519.ts';
import { simulatedRelease } from '../src/sim/simulated-station.ts';

const quick = process.argv.includes('--quick');
const N_SINGLE = quick ? 300 : 3000;
const N_BATCHED = quick ? 2000 : 20_000;
const N_VERIFY = quick ? 500 : 5000;

const rate = (n: number, ms: number) => fmt((n / ms) * 1000);
const results = createReport();

async function main() {
  const dataDir = mkdtempSync(join(tmpdir(), 'flashtrail-bench-'));
  const config = configFromEnv({}, { dataDir, port: 0 });
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

  console.error(`flashtrail append benchmark (${quick ? 'quick' : 'full'}), node ${process.version}`);

  // Signing happens at the station, so it is done before the clock starts.
  const singles = Array.from({ length: N_SINGLE }, (_, i) => scan(`S-${i}`));
  let t = performance.now();
  for (const e of singles) await client.append([e]);
  results.add('HTTP append, 1 event per request, sequential', rate(N_SINGLE, performance.now() - t), 'events/s');

  const batched = Array.from({ length: N_BATCHED }, (_, i) => scan(`M-${i}`));
  t = performance.now();
  for (let i = 0; i < batched.length; i += 100) await client.append(batched.slice(i, i + 100));
  results.add('HTTP append, batches of 100', rate(N_BATCHED, performance.now() - t), 'events/s');
  await ledger.close();

  // Reference: what SQLite itself does on this disk with the same durability (WAL, synchronous=FULL).
  const raw = new Database(join(dataDir, 'raw.sqlite'));
  raw.pragma('journal_mode = WAL');
  raw.pragma('synchronous = FULL');
  raw.exec('CREATE TABLE t (position INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE, data BLOB)');
  const insert = raw.prepare('INSERT INTO t (id, data) VALUES (?, ?)');
  const blob = Buffer.alloc(1100, 7);
  t = performance.now();
  for (let i = 0; i < N_SINGLE; i++) insert.run(randomUUID(), blob);
  results.add('reference: raw SQLite insert, 1 row per transaction', rate(N_SINGLE, performance.now() - t), 'rows/s');
  const many = raw.transaction((n: number) => {
    for (let i = 0; i < n; i++) insert.run(randomUUID(), blob);
  });
  t = performance.now();
  for (let i = 0; i < N_BATCHED; i += 100) many(100);
  results.add('reference: raw SQLite insert, 100 rows per transaction', rate(N_BATCHED, performance.now() - t), 'rows/s');
  raw.close();

  // Ed25519 verify of a real event's PAE bytes: the ledger's strict paths next to node's bare OpenSSL verify.
  const envelope = singles[0]!;
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
