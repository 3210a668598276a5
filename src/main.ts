/**
 * Composition root: the one place that reads configuration, opens files and wires the parts together.
 */
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { pino, type Logger } from 'pino';
import { SqliteEventStore } from './store/sqlite-event-store.ts';
import type { EventStore } from './store/event-store.ts';
import { Ledger } from './ledger/ledger.ts';
import { ProjectionRunner } from './projections/runner.ts';
import { unitStateProjection } from '../projections/unit-state.ts';
import { createApp } from './api/app.ts';
import { TokenStore, addToken, type TokenSource } from './api/tokens.ts';
import { newSigner, readPublicKeyList, writePublicKeyList, writeSecretKeyFile } from './keys/key-file.ts';

export interface LedgerConfig {
  readonly dataDir: string;
  readonly host: string;
  readonly port: number;
  readonly tokensFile: string;
  /** JSON token list from the environment; takes precedence over tokensFile. */
  readonly tokensJson: string | null;
  readonly adminKeysFile: string;
  readonly logLevel: string;
  readonly maxBodyBytes: number;
}

export function configFromEnv(env: NodeJS.ProcessEnv, overrides: Partial<LedgerConfig> = {}): LedgerConfig {
  const dataDir = resolve(overrides.dataDir ?? env['FLASHTRAIL_DATA_DIR'] ?? './data');
  const port = overrides.port ?? Number(env['FLASHTRAIL_PORT'] ?? 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid port ${String(port)}`);
  return {
    dataDir,
    host: overrides.host ?? env['FLASHTRAIL_HOST'] ?? '127.0.0.1',
    port,
    tokensFile: overrides.tokensFile ?? env['FLASHTRAIL_TOKENS_FILE'] ?? join(dataDir, 'tokens.json'),
    tokensJson: overrides.tokensJson ?? env['FLASHTRAIL_TOKENS'] ?? null,
    adminKeysFile: overrides.adminKeysFile ?? env['FLASHTRAIL_ADMIN_KEYS_FILE'] ?? join(dataDir, 'admin-keys.json'),
    logLevel: overrides.logLevel ?? env['FLASHTRAIL_LOG_LEVEL'] ?? 'info',
    maxBodyBytes: overrides.maxBodyBytes ?? Number(env['FLASHTRAIL_MAX_BODY_BYTES'] ?? 4 * 1024 * 1024),
  };
}

export interface InitResult {
  readonly created: boolean;
  readonly adminKeyFile: string;
  readonly adminTokenFile: string;
}

/**
 * First start: a data directory (0700) with an administrator signing key (0600), the list of trusted
 * administrator keys, and an admin token whose plaintext goes to a 0600 file, never to a log.
 */
export function initDataDir(config: LedgerConfig): InitResult {
  const adminKeyFile = join(config.dataDir, 'admin.key');
  const adminTokenFile = join(config.dataDir, 'admin.token');
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  if (existsSync(config.adminKeysFile)) return { created: false, adminKeyFile, adminTokenFile };
  const admin = newSigner();
  writeSecretKeyFile(adminKeyFile, admin, 'flashtrail administrator key');
  writePublicKeyList(config.adminKeysFile, [{ keyId: admin.keyId, publicKey: admin.publicKey, name: 'admin' }]);
  if (config.tokensJson === null && !existsSync(config.tokensFile)) {
    const token = addToken(config.tokensFile, { name: 'admin', role: 'admin' });
    writeFileSync(adminTokenFile, token + '\n', { mode: 0o600 });
    chmodSync(adminTokenFile, 0o600);
  }
  return { created: true, adminKeyFile, adminTokenFile };
}

export interface RunningLedger {
  readonly url: string;
  readonly port: number;
  readonly store: EventStore;
  readonly projections: ProjectionRunner;
  readonly ledger: Ledger;
  close(): Promise<void>;
}

export async function startLedgerServer(config: LedgerConfig, logger: Logger = pino({ level: config.logLevel })): Promise<RunningLedger> {
  const init = initDataDir(config);
  if (init.created) {
    logger.info({ adminKeyFile: init.adminKeyFile, adminTokenFile: init.adminTokenFile }, 'initialised a new data directory');
  }
  const store = new SqliteEventStore(join(config.dataDir, 'events.sqlite'));
  const projections = new ProjectionRunner(store, join(config.dataDir, 'readmodel.sqlite'), [unitStateProjection]);
  const tokens: TokenSource = config.tokensJson !== null ? TokenStore.fromJson(config.tokensJson) : TokenStore.fromFile(config.tokensFile);
  const ledger = new Ledger({ store, clock: () => new Date(), adminKeys: readPublicKeyList(config.adminKeysFile) });
  await projections.catchUp();
  projections.start();
  const app = createApp({ ledger, store, projections, tokens, logger, maxBodyBytes: config.maxBodyBytes });

  const server = await new Promise<ReturnType<typeof serve>>((resolveServer, reject) => {
    const s = serve({ fetch: app.fetch, hostname: config.host, port: config.port }, () => resolveServer(s));
    s.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  const url = `http://${host}:${port}`;
  logger.info({ url, dataDir: config.dataDir }, 'flashtrail ledger listening');

  let closing: Promise<void> | null = null;
  return {
    url,
    port,
    store,
    projections,
    ledger,
    close: () =>
      (closing ??= (async () => {
        await new Promise<void>((r) => server.close(() => r()));
        await projections.stop();
        projections.close();
        await store.close();
      })()),
  };
}
