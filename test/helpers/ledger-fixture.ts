/**
 * A real ledger for tests: a fresh data directory, a real SQLite file, the real HTTP server on a loopback
 * port, and the administrator setup every scenario needs (stations with keys, a release, an open batch).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { configFromEnv, initDataDir, startLedgerServer, type LedgerConfig, type RunningLedger } from '../../src/server/main.ts';
import { addToken } from '../../src/api/tokens.ts';
import { readSecretKeyFile } from '../../src/files/key-file.ts';
import { newSigner, type Signer } from '../../src/crypto/ed25519.ts';
import { EventSigner } from '../../src/event/signer.ts';
import { LedgerClient } from '../../src/client/ledger-client.ts';
import { lineSetupEvents } from '../../src/sim/line-setup.ts';
import { simulatedRelease, type ReleaseFirmware } from '../../src/sim/simulated-station.ts';
import { storeUnderTest } from './store-under-test.ts';
import { createTestDatabase, type TestDatabase } from './postgres.ts';

export interface TestLedger {
  readonly dataDir: string;
  readonly config: LedgerConfig;
  readonly running: RunningLedger;
  readonly url: string;
  readonly tokens: { admin: string; station1: string; station2: string; auditor: string };
  readonly admin: EventSigner;
  readonly adminClient: LedgerClient;
  readonly stationKeys: { 'ST-01': Signer; 'ST-02': Signer };
  readonly release: ReleaseFirmware;
  readonly batchId: string;
  /** Everything the server logged, one JSON line per entry. */
  logs(): string;
  stop(): Promise<void>;
}

export interface TestLedgerOptions {
  readonly maxBodyBytes?: number;
  /** false: no stations, release or batch. */
  readonly setup?: boolean;
  readonly dataDir?: string;
  readonly port?: number;
  /** FLASHTRAIL_START_CHECK_LEAVES; 0 starts on an event store edited behind the Merkle log's back. */
  readonly startCheckLeaves?: number;
  /** FLASHTRAIL_WITNESS_POLICY: the witnesses each checkpoint is submitted to. */
  readonly witnessPolicyFile?: string;
  /** FLASHTRAIL_PQ_SIGNATURES; 'off' makes a ledger as it was before hybrid signatures. */
  readonly pqSignatures?: 'ml-dsa-44' | 'off';
  /** FLASHTRAIL_READ_SIDE_THREAD; false keeps the read-model pass on the serving thread. */
  readonly readSideThread?: boolean;
}

export async function startTestLedger(options: TestLedgerOptions = {}): Promise<TestLedger> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'flashtrail-test-'));
  // The event store the file chose (store-under-test.ts): SQLite in the data directory, or a fresh PostgreSQL database.
  const chosen = storeUnderTest();
  const database: TestDatabase | null = chosen.kind === 'postgres' ? await createTestDatabase(chosen.target) : null;
  const storeConfig = database ? { store: 'postgres' as const, postgresUrl: database.url } : {};
  const config = configFromEnv({}, { dataDir, port: options.port ?? 0, logLevel: 'info', ...storeConfig, ...(options.maxBodyBytes ? { maxBodyBytes: options.maxBodyBytes } : {}), ...(options.startCheckLeaves !== undefined ? { startCheckLeaves: options.startCheckLeaves } : {}), ...(options.witnessPolicyFile ? { witnessPolicyFile: options.witnessPolicyFile } : {}), ...(options.pqSignatures ? { pqSignatures: options.pqSignatures } : {}), ...(options.readSideThread !== undefined ? { readSideThread: options.readSideThread } : {}) });
  const init = initDataDir(config);
  const tokens = {
    admin: readFileSync(init.adminTokenFile, 'utf8').trim(),
    station1: addToken(config.tokensFile, { name: `st1-${Math.random()}`, role: 'station', stationId: 'ST-01' }),
    station2: addToken(config.tokensFile, { name: `st2-${Math.random()}`, role: 'station', stationId: 'ST-02' }),
    auditor: addToken(config.tokensFile, { name: `aud-${Math.random()}`, role: 'auditor' }),
  };
  let logText = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logText += chunk.toString();
      done();
    },
  });
  const running = await startLedgerServer(config, pino({ level: 'info' }, sink));
  const admin = new EventSigner(readSecretKeyFile(init.adminKeyFile), 'admin');
  const adminClient = new LedgerClient(running.url, tokens.admin);
  const stationKeys = { 'ST-01': newSigner(), 'ST-02': newSigner() };
  const release = simulatedRelease('R-1', 'SENSOR-S3', '2.4.1');
  const batchId = 'B-1';
  if (options.setup !== false) {
    await adminClient.appendAdmin(
      lineSetupEvents(admin, {
        stations: (['ST-01', 'ST-02'] as const).map((stationId) => ({ stationId, key: stationKeys[stationId] })),
        release,
        batch: { batchId, line: 'L1', plannedQuantity: 100 },
        // Set up 20 hours ago: units a test backdates (the simulator's batches span hours) come after it, and
        // administrator events stay within the ledger's 24-hour window (EVENT_TOO_OLD).
        at: new Date(Date.now() - 20 * 3_600_000),
      }),
    );
  }
  return {
    dataDir,
    config,
    running,
    url: running.url,
    tokens,
    admin,
    adminClient,
    stationKeys,
    release,
    batchId,
    logs: () => logText,
    stop: async () => {
      await running.close();
      await database?.drop();
      if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export function scanData(serial: string, batchId = 'B-1', station = 'ST-01') {
  return { serial, batchId, station, operator: 'op-test', productSku: 'SENSOR-S3', hardwareRevision: 'rev-C' };
}

export function bootloaderData(serial: string, release: ReleaseFirmware) {
  return {
    serial,
    imageSha256: release.bootloader.sha256,
    version: release.bootloader.version,
    sizeBytes: release.bootloader.sizeBytes,
    signingKeyRef: 'sb-key',
    signingKeyDigest: release.signingKeyDigest,
  };
}
