/**
 * Merkle log and verification figures, each next to a reference measured in the same run:
 * - Merkle append throughput (leaves/s) next to raw SHA-256 throughput of the same leaf bytes: the catch-up of
 *   an offline rebuild (`flashtrail projections rebuild`), which hashes the leaves on a worker thread, from the
 *   compiled build as the CLI runs it (`npm run build` first: a worker started from source would load tsx);
 * - inclusion and consistency proof generation latency at 1M leaves (--quick: 100k);
 * - offline verification time of a provenance document for a unit with 20 events.
 *
 *   npm run bench:merkle            (a few minutes: builds a 1M-event store)
 *   npm run bench:merkle -- --quick
 */
import { createHash, randomUUID } from 'node:crypto';
import { createReport, fmt, perSecond, quick, runBench } from './report.ts';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { sha256 } from '@noble/hashes/sha2.js';
import { SqliteEventStore } from '../src/store/sqlite.ts';
import { MerkleLog } from '../src/read/merkle-log.ts';
import { configFromEnv, initDataDir, startLedgerServer } from '../src/server/main.ts';
import { addToken } from '../src/api/tokens.ts';
import { readSecretKeyFile } from '../src/files/key-file.ts';
import { newSigner } from '../src/crypto/ed25519.ts';
import { EventSigner } from '../src/event/signer.ts';
import { LedgerClient } from '../src/client/ledger-client.ts';
import { lineSetupEvents } from '../src/sim/line-setup.ts';
import { simulatedRelease } from '../src/sim/simulated-station.ts';
import { parseVerifierKey, verifyProvenance, type ProvenanceDocument } from '../src/verify/index.ts';
import { nativeCrypto } from '../src/native/crypto.ts';
import { portableCrypto } from '../src/crypto/backend.ts';
import { compiled } from './compiled.ts';
import { sampleThreadCpu } from './threads.ts';
import { availableParallelism } from 'node:os';
import type * as SqliteModule from '../src/store/sqlite.ts';
import type * as MerkleLogModule from '../src/read/merkle-log.ts';

const LEAVES = quick ? 100_000 : 1_000_000;
const results = createReport('merkle');

async function merkleFigures(dir: string) {
  const store = new SqliteEventStore(join(dir, 'events.sqlite'));
  const leaf = new Uint8Array(1100).fill(7); // about the size of a signed event envelope
  console.error(`  filling an event store with ${fmt(LEAVES)} events…`);
  for (let i = 0; i < LEAVES; i += 1000) {
    const events = Array.from({ length: Math.min(1000, LEAVES - i) }, (_, j) => ({ id: randomUUID(), type: 'T', data: leaf.subarray(0, 1000 + ((i + j) % 100)) }));
    await store.appendToStreams([{ stream: `s-${i}`, events }]);
  }

  let t = performance.now();
  for (let i = 0; i < 200_000; i++) sha256(leaf);
  results.add('ref.sha256.noble', 'reference: SHA-256 of a 1.1 kB leaf, @noble/hashes', perSecond(200_000, performance.now() - t), 'hashes/s');
  t = performance.now();
  for (let i = 0; i < 200_000; i++) createHash('sha256').update(leaf).digest();

  const nodeRate = perSecond(200_000, performance.now() - t);
  results.add('ref.sha256.node', "reference: SHA-256 of a 1.1 kB leaf, node's crypto", nodeRate, 'hashes/s');

  // The log's rebuild is this catch-up from an empty file. Per leaf it hashes the leaf and, on average, one
  // node (64 bytes): the reference is the leaf hash alone, so 100 % is out of reach by that node and the I/O.
  const built = { sqlite: await compiled<typeof SqliteModule>('src/store/sqlite.ts'), merkle: await compiled<typeof MerkleLogModule>('src/read/merkle-log.ts') };
  const builtStore = new built.sqlite.SqliteEventStore(join(dir, 'events.sqlite'));
  // As `flashtrail projections rebuild` catches a new log up (src/read/merkle-rebuild.ts): on two threads.
  const builtLog = new built.merkle.MerkleLog(builtStore, join(dir, 'merkle.sqlite'), undefined, { threadedCatchUpLeaves: built.merkle.THREADED_CATCH_UP_LEAVES });
  const cpuMs = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  t = performance.now();
  const c = cpuMs();
  const threads = sampleThreadCpu();
  await builtLog.catchUp();
  const appendRate = perSecond(LEAVES, performance.now() - t);
  const byThread = threads();
  builtLog.close();
  await builtStore.close();
  results.add('merkle.append', `Merkle log append (read events, hash, persist nodes), ${fmt(LEAVES)} leaves`, appendRate, 'leaves/s');
  results.add('merkle.append.cpu', 'Merkle log append, leaves per second of CPU time (every thread)', perSecond(LEAVES, cpuMs() - c), 'leaves/s');
  results.add('merkle.append.idle', `Merkle log append, leaves per second its CPU time allows on ${availableParallelism()} idle cores (busiest thread, or all threads over the cores)`, byThread ? perSecond(LEAVES, Math.max(byThread.busiestMs, byThread.totalMs / availableParallelism())) : null, 'leaves/s');
  if (byThread) console.error(`  CPU time by thread (ms): ${JSON.stringify(byThread.threads)}`);
  // The proofs below are served by the source build, from the file the compiled one wrote.
  const log = new MerkleLog(store, join(dir, 'merkle.sqlite'));
  results.add('merkle.append.refRatio', "Merkle log append, share of the reference (node's SHA-256 of the leaves alone, wall-clock)", (appendRate / nodeRate) * 100, '%');

  const size = log.size;
  const samples = 1000;
  t = performance.now();
  for (let i = 0; i < samples; i++) log.inclusionProof(Math.floor(Math.random() * size), size);
  results.add('merkle.inclusionProof', `inclusion proof generation at ${fmt(size)} leaves`, (performance.now() - t) / samples, 'ms/proof', 3);
  t = performance.now();
  for (let i = 0; i < samples; i++) log.consistencyProof(1 + Math.floor(Math.random() * (size - 1)), size);
  results.add('merkle.consistencyProof', `consistency proof generation at ${fmt(size)} leaves`, (performance.now() - t) / samples, 'ms/proof', 3);
  t = performance.now();
  log.root(size);
  results.add('merkle.root', `root at ${fmt(size)} leaves`, performance.now() - t, 'ms', 3);
  log.close();
  await store.close();
}

async function verifyFigures(dir: string) {
  const config = configFromEnv({}, { dataDir: join(dir, 'ledger'), port: 0 });
  const init = initDataDir(config);
  const stationToken = addToken(config.tokensFile, { name: 'bench', role: 'station', stationId: 'ST-01' });
  const ledger = await startLedgerServer(config, pino({ level: 'warn' }));
  try {
    const adminToken = readFileSync(init.adminTokenFile, 'utf8').trim();
    const admin = new EventSigner(readSecretKeyFile(init.adminKeyFile), 'admin');
    const key = newSigner();
    const r = simulatedRelease('R-1', 'SENSOR-S3', '1.0.0');
    await new LedgerClient(ledger.url, adminToken).appendAdmin(
      lineSetupEvents(admin, { stations: [{ stationId: 'ST-01', key }], release: r, batch: { batchId: 'B-1', line: 'L1', plannedQuantity: 10 } }),
    );
    const s = new EventSigner(key, 'ST-01');
    const serial = 'V-1';
    const boot = () => s.sign('BootloaderWritten', { serial, imageSha256: r.bootloader.sha256, version: '1', sizeBytes: 1, signingKeyRef: 'k', signingKeyDigest: r.signingKeyDigest }).envelope;
    const verify = (reported: string) => s.sign('AppVerified', { serial, imageSha256: r.application.sha256, version: '1', sizeBytes: 1, reportedSha256: reported, method: 'device_report', result: reported === r.application.sha256 ? 'pass' : 'fail' }).envelope;
    const events = [s.sign('UnitScanned', { serial, batchId: 'B-1', station: 'ST-01', operator: 'op', productSku: 'SENSOR-S3', hardwareRevision: 'rev-C' }).envelope];
    for (let i = 0; i < 5; i++) events.push(boot(), verify('0'.repeat(64)), s.sign('UnitReworked', { serial, reason: 'retry' }).envelope);
    events.push(boot(), verify(r.application.sha256), s.sign('ProvisioningApplied', { serial, templateId: 't', templateSha256: r.provisioningTemplate.sha256, configSha256: '1'.repeat(64) }).envelope);
    events.push(s.sign('EfuseBurned', { serial, profile: r.efuseProfile, fuses: [{ name: 'SECURE_BOOT_EN', value: '1' }], keyDigests: [r.signingKeyDigest], secureBoot: true, flashEncryption: true }).envelope);
    await new LedgerClient(ledger.url, stationToken).append(events);
    const auditor = new LedgerClient(ledger.url, adminToken);
    const doc = await auditor.get<ProvenanceDocument>(`/v1/units/${serial}/provenance`);
    const key2 = parseVerifierKey(ledger.identity.verifierKey);
    const runs = 200;
    let t = performance.now();
    let n = 0;
    for (let i = 0; i < runs; i++) n = verifyProvenance(doc, key2, nativeCrypto).events;
    results.add('provenance.verify.native', `verify a provenance document (unit with ${n} events, ${doc.entries.length} entries), native Ed25519`, (performance.now() - t) / runs, 'ms', 2);
    t = performance.now();
    for (let i = 0; i < 20; i++) verifyProvenance(doc, key2, portableCrypto);
    results.add('provenance.verify.portable', 'the same, portable @noble/ed25519 (browser path)', (performance.now() - t) / 20, 'ms', 2);
  } finally {
    await ledger.close();
  }
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'flashtrail-bench-merkle-'));
  console.error(`flashtrail Merkle benchmark (${quick ? 'quick' : 'full'}), node ${process.version}`);
  try {
    await merkleFigures(dir);
    await verifyFigures(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  results.print();
}

runBench(main);
