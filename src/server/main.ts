/**
 * Composition root: the one place that reads configuration, opens files and wires the parts together.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { pino, type Logger } from 'pino';
import { SqliteEventStore } from '../store/sqlite.ts';
import { KurrentDBEventStore } from '../store/kurrentdb.ts';
import type { EventStore } from '../store/event-store.ts';
import { Ledger } from '../write/pipeline.ts';
import { ProjectionRunner } from '../read/projection-runner.ts';
import { unitStateProjection } from '../../projections/unit-state.ts';
import { productionProjection } from '../../projections/production.ts';
import { createApp } from '../api/app.ts';
import { TokenStore, addToken, type TokenSource } from '../api/tokens.ts';
import { readPublicKeyList, readSecretKeyFile, writePublicKeyList, writeSecretKeyFile } from '../files/key-file.ts';
import { newSigner, type Signer } from '../crypto/ed25519.ts';
import { MerkleLog } from '../read/merkle-log.ts';
import { Checkpointer } from '../write/checkpointer.ts';
import { formatVerifierKey } from '../tlog/note.ts';
import { ConfigError, type LedgerConfig } from './config.ts';

export { ConfigError, configFromEnv, type LedgerConfig } from './config.ts';

/** The event store the configuration asks for. */
export function openEventStore(config: LedgerConfig): EventStore {
  if (config.store === 'sqlite') return new SqliteEventStore(join(config.dataDir, 'events.sqlite'));
  if (!config.eventStoreConnectionString) throw new ConfigError('FLASHTRAIL_STORE=eventstoredb needs FLASHTRAIL_EVENTSTORE_CONNECTION_STRING, e.g. esdb://localhost:2113?tls=false');
  return new KurrentDBEventStore(config.eventStoreConnectionString);
}

export interface InitResult {
  readonly created: boolean;
  readonly adminKeyFile: string;
  readonly adminTokenFile: string;
  readonly ledgerKeyFile: string;
  /** `<origin>+<key id>+<key>`: what verifiers pin. */
  readonly verifierKey: string;
}

export interface LedgerIdentity {
  readonly origin: string;
  readonly key: Signer;
  readonly verifierKey: string;
}

/** The ledger's own key (signs checkpoints) and its log origin, created once per data directory. */
export function ledgerIdentity(config: LedgerConfig): LedgerIdentity {
  const keyFile = join(config.dataDir, 'ledger.key');
  const infoFile = join(config.dataDir, 'ledger.json');
  if (!existsSync(keyFile)) {
    writeSecretKeyFile(keyFile, newSigner(), 'flashtrail ledger key: signs checkpoints');
    const origin = config.originForNewLedger ?? `flashtrail.local/${randomBytes(4).toString('hex')}`;
    if (!/^[^\s+]+$/u.test(origin)) throw new ConfigError(`log origin ${origin} must not contain spaces or '+'`);
    writeFileSync(infoFile, JSON.stringify({ origin }, null, 2) + '\n');
  }
  const key = readSecretKeyFile(keyFile);
  const { origin } = JSON.parse(readFileSync(infoFile, 'utf8')) as { origin: string };
  return { origin, key, verifierKey: formatVerifierKey(origin, key.publicKey) };
}

/**
 * First start: a data directory (0700) with an administrator signing key (0600), the list of trusted
 * administrator keys, and an admin token whose plaintext goes to a 0600 file, never to a log.
 */
export function initDataDir(config: LedgerConfig): InitResult {
  const adminKeyFile = join(config.dataDir, 'admin.key');
  const adminTokenFile = join(config.dataDir, 'admin.token');
  const ledgerKeyFile = join(config.dataDir, 'ledger.key');
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const { verifierKey } = ledgerIdentity(config);
  if (existsSync(config.adminKeysFile)) return { created: false, adminKeyFile, adminTokenFile, ledgerKeyFile, verifierKey };
  const admin = newSigner();
  writeSecretKeyFile(adminKeyFile, admin, 'flashtrail administrator key');
  writePublicKeyList(config.adminKeysFile, [{ keyId: admin.keyId, publicKey: admin.publicKey, name: 'admin' }]);
  if (config.tokensJson === null && !existsSync(config.tokensFile)) {
    const token = addToken(config.tokensFile, { name: 'admin', role: 'admin' });
    writeFileSync(adminTokenFile, token + '\n', { mode: 0o600 });
    chmodSync(adminTokenFile, 0o600);
  }
  return { created: true, adminKeyFile, adminTokenFile, ledgerKeyFile, verifierKey };
}

export interface RunningLedger {
  readonly url: string;
  readonly port: number;
  readonly store: EventStore;
  readonly projections: ProjectionRunner;
  readonly ledger: Ledger;
  readonly log: MerkleLog;
  readonly checkpointer: Checkpointer;
  readonly identity: LedgerIdentity;
  close(): Promise<void>;
}

export async function startLedgerServer(config: LedgerConfig, logger: Logger = pino({ level: config.logLevel })): Promise<RunningLedger> {
  const init = initDataDir(config);
  if (init.created) {
    logger.info({ adminKeyFile: init.adminKeyFile, adminTokenFile: init.adminTokenFile }, 'initialised a new data directory');
  }
  const store = openEventStore(config);
  const projections = new ProjectionRunner(store, join(config.dataDir, 'readmodel.sqlite'), [unitStateProjection, productionProjection]);
  const tokens: TokenSource = config.tokensJson !== null ? TokenStore.fromJson(config.tokensJson) : TokenStore.fromFile(config.tokensFile);
  const adminKeys = readPublicKeyList(config.adminKeysFile);
  const identity = ledgerIdentity(config);
  const ledger = new Ledger({ store, clock: () => new Date(), adminKeys });
  const log = new MerkleLog(store, join(config.dataDir, 'merkle.sqlite'));
  const checkpointer = new Checkpointer({
    store,
    log,
    ledgerKey: identity.key,
    origin: identity.origin,
    clock: () => new Date(),
    everyEvents: config.checkpointEveryEvents,
    intervalMs: config.checkpointIntervalMs,
    logger,
  });
  await checkpointer.recordTrustedAdminKeys(adminKeys);
  await log.catchUp();
  checkpointer.start();
  await projections.catchUp();
  projections.start();
  const app = createApp({ ledger, store, projections, tokens, logger, log, checkpointer, verifierKey: identity.verifierKey, ledgerKey: identity.key, origin: identity.origin, maxBodyBytes: config.maxBodyBytes });

  const server = await new Promise<ReturnType<typeof serve>>((resolveServer, reject) => {
    const s = serve({ fetch: app.fetch, hostname: config.host, port: config.port }, () => resolveServer(s));
    s.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  const url = `http://${host}:${port}`;
  logger.info({ url, dataDir: config.dataDir, verifierKey: identity.verifierKey }, 'flashtrail ledger listening');

  let closing: Promise<void> | null = null;
  return {
    url,
    port,
    store,
    projections,
    ledger,
    log,
    checkpointer,
    identity,
    close: () =>
      (closing ??= (async () => {
        await new Promise<void>((r) => server.close(() => r()));
        await checkpointer.stop();
        await projections.stop();
        projections.close();
        log.close();
        await store.close();
      })()),
  };
}
